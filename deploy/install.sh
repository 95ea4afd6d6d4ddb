#!/bin/bash
# Install or upgrade minegate from an offline bundle (built by deploy/build_bundle.py), or roll back.
#
#   sudo ./install.sh                 # from inside the unpacked bundle: install, or upgrade to this bundle
#   sudo ./install.sh --dry-run       # print every action, change nothing
#   sudo ./install.sh --rollback      # switch back to the release that was current before the last upgrade
#
# Supported: Raspberry Pi OS / Debian 12 bookworm (arm64) and Ubuntu 22.04 / 24.04 (Jetson JetPack 6; x86_64
# for a test bench), with Python 3.11 or 3.12. Anything else is refused before anything is changed.
# Idempotent: a second run of the same bundle changes nothing. Layout:
#   /opt/minegate/releases/<version>   one venv per release (+ models/, share/)
#   /opt/minegate/current -> releases/<version>,  /opt/minegate/previous -> the release before (for --rollback)
#   /opt/minegate/models -> current/models    /etc/minegate/gateway.yaml (written only if absent)
#   /usr/local/bin/minegate -> /opt/minegate/current/bin/minegate
#   /etc/systemd/system/minegate.service      enabled; started by you once gateway.yaml is edited
#
# Options: --bundle DIR (default: this script's directory), --root DIR (install under DIR instead of /: tests,
# image builds), --no-enable (install the unit but do not enable it).
# Environment, for tests: MINEGATE_OS_RELEASE (a file read instead of /etc/os-release), MINEGATE_ARCH (instead of
# `uname -m`), MINEGATE_PYTHON (the interpreter to build the venv with).
set -eu

PROG=install.sh
DRY_RUN=0
ROLLBACK=0
ENABLE=1
ROOT=/
BUNDLE=$(cd "$(dirname "$0")" && pwd)
CHANGED=0

usage() {
    sed -n '2,/^set -eu/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
}

die() {
    echo "$PROG: error: $*" >&2
    exit 1
}

say() { echo "$PROG: $*"; }

while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) DRY_RUN=1 ;;
        --rollback) ROLLBACK=1 ;;
        --no-enable) ENABLE=0 ;;
        --bundle) [ $# -ge 2 ] || die "--bundle needs a directory"; BUNDLE=$2; shift ;;
        --bundle=*) BUNDLE=${1#--bundle=} ;;
        --root) [ $# -ge 2 ] || die "--root needs a directory"; ROOT=$2; shift ;;
        --root=*) ROOT=${1#--root=} ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown option '$1' (allowed: --dry-run --rollback --no-enable --bundle DIR --root DIR --help)" ;;
    esac
    shift
done

ROOT=${ROOT%/}
P=$ROOT   # prefix for every installed path ("" for the real root)

# Every change goes through run: printed, and done unless --dry-run.
run() {
    CHANGED=$((CHANGED + 1))
    if [ "$DRY_RUN" = 1 ]; then
        echo "would run: $*"
    else
        echo "+ $*"
        "$@"
    fi
}

# Writes stdin to a file through run (so --dry-run shows it and writes nothing).
write_file() {
    if [ "$DRY_RUN" = 1 ]; then
        CHANGED=$((CHANGED + 1))
        echo "would write: $1"
        cat >/dev/null
    else
        CHANGED=$((CHANGED + 1))
        echo "+ write $1"
        cat >"$1"
    fi
}

# ---- what are we on? ------------------------------------------------------------------------------------------
check_platform() {
    local os_release=${MINEGATE_OS_RELEASE:-/etc/os-release}
    [ -r "$os_release" ] || die "cannot read $os_release: cannot tell which operating system this is"
    local ID="" VERSION_ID="" VERSION_CODENAME="" PRETTY_NAME=""
    # shellcheck disable=SC1090
    . "$os_release"
    local arch=${MINEGATE_ARCH:-$(uname -m)}
    case "$arch" in
        aarch64|arm64) ARCH=aarch64 ;;
        x86_64|amd64) ARCH=x86_64 ;;
        armv7l|armv6l|armhf)
            die "unsupported architecture $arch: 32-bit Raspberry Pi OS cannot run minegate (no onnxruntime or" \
                "OpenCV wheels); flash the 64-bit (arm64) Raspberry Pi OS bookworm image" ;;
        *) die "unsupported architecture $arch: minegate bundles exist for aarch64 and x86_64" ;;
    esac
    case "$ID:$VERSION_CODENAME:$VERSION_ID" in
        debian:bookworm:*|raspbian:bookworm:*) OS="Debian 12 bookworm ($ID)" ;;
        ubuntu:*:22.04|ubuntu:*:24.04) OS="Ubuntu $VERSION_ID" ;;
        ubuntu:*:20.04)
            die "unsupported OS ${PRETTY_NAME:-Ubuntu 20.04}: JetPack 5 (Ubuntu 20.04) has Python 3.8; minegate" \
                "needs JetPack 6 (Ubuntu 22.04) or later" ;;
        *) die "unsupported OS '${PRETTY_NAME:-$ID $VERSION_ID}': supported are Raspberry Pi OS / Debian 12" \
               "bookworm and Ubuntu 22.04 / 24.04 (Jetson JetPack 6)" ;;
    esac
    say "platform: $OS on $ARCH"
}

find_python() {
    local candidate version
    for candidate in ${MINEGATE_PYTHON:-} python3.12 python3.11 python3; do
        [ -n "$candidate" ] || continue
        command -v "$candidate" >/dev/null 2>&1 || continue
        version=$("$candidate" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) || continue
        case " $BUNDLE_PYTHONS " in
            *" $version "*) PYTHON=$(command -v "$candidate"); PYTHON_VERSION=$version; return 0 ;;
        esac
    done
    case "$OS" in
        "Ubuntu 22.04") die "no Python 3.11 or 3.12 found (Ubuntu 22.04 ships 3.10): apt install python3.11" \
                            "(universe; from a local mirror or the JetPack SDK image) and run again" ;;
        *) die "no Python among '$BUNDLE_PYTHONS' found; this bundle has wheels only for those versions" ;;
    esac
}

load_bundle() {
    [ -f "$BUNDLE/bundle.env" ] || die "$BUNDLE is not a minegate bundle (no bundle.env); unpack" \
        "minegate-<version>-<arch>.tar.gz and run install.sh from inside it, or pass --bundle DIR"
    BUNDLE_VERSION="" BUNDLE_ARCH="" BUNDLE_PYTHONS=""
    # shellcheck disable=SC1091
    . "$BUNDLE/bundle.env"
    [ -n "$BUNDLE_VERSION" ] && [ -n "$BUNDLE_ARCH" ] || die "$BUNDLE/bundle.env lacks BUNDLE_VERSION/BUNDLE_ARCH"
    [ "$BUNDLE_ARCH" = "$ARCH" ] || die "this bundle is for $BUNDLE_ARCH but this machine is $ARCH: use" \
        "minegate-$BUNDLE_VERSION-$ARCH.tar.gz"
}

verify_bundle() {
    [ -f "$BUNDLE/SHA256SUMS" ] || die "$BUNDLE/SHA256SUMS is missing: the bundle is incomplete; copy it again"
    if ! (cd "$BUNDLE" && sha256sum --quiet --strict -c SHA256SUMS >/dev/null 2>&1); then
        (cd "$BUNDLE" && sha256sum --quiet -c SHA256SUMS 2>&1 | head -5) >&2 || true
        die "the bundle's files do not match SHA256SUMS (a bad copy or a damaged USB stick): copy" \
            "minegate-$BUNDLE_VERSION-$BUNDLE_ARCH.tar.gz again and unpack it afresh"
    fi
    BUNDLE_SUM=$(sha256sum "$BUNDLE/SHA256SUMS" | cut -d' ' -f1)
    say "bundle: minegate $BUNDLE_VERSION for $BUNDLE_ARCH, files verified"
}

have_root_rights() { [ "$(id -u)" = 0 ]; }

booted_with_systemd() { [ -z "$ROOT" ] && [ -d /run/systemd/system ]; }

# ---- the steps ------------------------------------------------------------------------------------------------
ensure_user() {
    if [ -n "$ROOT" ] && ! have_root_rights; then
        say "not root: skipping the minegate user and file ownership under $ROOT"
        return
    fi
    if [ -n "$ROOT" ] && [ ! -f "$P/etc/passwd" ]; then
        say "$ROOT has no etc/passwd (not a system root): skipping the minegate user and file ownership"
        return
    fi
    local useradd_root=()
    [ -n "$ROOT" ] && useradd_root=(--root "$ROOT")
    local group
    for group in dialout video; do
        if ! grep -q "^$group:" "$P/etc/group" 2>/dev/null; then
            run groupadd "${useradd_root[@]}" --system "$group"
        fi
    done
    if grep -q "^minegate:" "$P/etc/passwd" 2>/dev/null; then
        for group in dialout video; do
            if ! grep "^$group:" "$P/etc/group" | cut -d: -f4 | tr ',' '\n' | grep -qx minegate; then
                run usermod "${useradd_root[@]}" --append --groups "$group" minegate
            fi
        done
        say "ok: user minegate exists (groups dialout, video)"
    else
        run useradd "${useradd_root[@]}" --system --user-group --groups dialout,video \
            --home-dir /var/lib/minegate --no-create-home --shell /usr/sbin/nologin \
            --comment "minegate gateway" minegate
    fi
}

ensure_dir() {  # path mode [owner:group]
    local owner_args=()
    if [ $# -ge 3 ] && [ -n "$3" ]; then
        owner_args=(-o "${3%%:*}" -g "${3##*:}")
    fi
    if [ ! -d "$P$1" ]; then
        run install -d -m "$2" "${owner_args[@]}" "$P$1"
    elif [ ${#owner_args[@]} -gt 0 ] && [ "$(stat -c "$OWNER_FORMAT" "$P$1")" != "$3" ]; then
        run chown "$3" "$P$1"
    fi
}

# Who owns the gateway's data and log directories: minegate:minegate, numeric under --root (the host's user
# database is not the root's), nothing when not root (an unprivileged --root install for tests).
owner_spec() {
    OWNER_FORMAT=%U:%G
    if ! have_root_rights || { [ -n "$ROOT" ] && [ ! -f "$P/etc/passwd" ]; }; then
        OWNER=""
    elif [ -z "$ROOT" ]; then
        OWNER=minegate:minegate
    elif grep -q '^minegate:' "$P/etc/passwd" 2>/dev/null; then
        OWNER_FORMAT=%u:%g
        OWNER="$(grep '^minegate:' "$P/etc/passwd" | cut -d: -f3):$(grep '^minegate:' "$P/etc/group" | cut -d: -f3)"
    else
        OWNER=""  # --dry-run before the user exists under --root
    fi
}

install_release() {
    REL=/opt/minegate/releases/$BUNDLE_VERSION
    local stamp=$P$REL/.bundle-sha256
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$BUNDLE_SUM" ]; then
        say "ok: release $BUNDLE_VERSION already installed from this bundle ($REL)"
        return
    fi
    if [ -e "$P$REL" ]; then
        # A half-finished install (power cut, full disk) or another build of the same version: start again.
        [ "$(readlink "$P/opt/minegate/current" 2>/dev/null)" != "releases/$BUNDLE_VERSION" ] ||
            die "$REL is the current release but was installed from a different bundle of the same version;" \
                "give the new build another version, or --rollback first"
        run rm -rf "$P$REL"
    fi
    ensure_dir /opt/minegate/releases 0755
    local pip_wheel
    pip_wheel=$(find "$BUNDLE/wheels" -maxdepth 1 -name 'pip-*.whl' | sort | tail -n 1)
    [ -n "$pip_wheel" ] || die "the bundle has no pip wheel in wheels/ (rebuild it with deploy/build_bundle.py)"
    # --without-pip: the venv module is in every Debian/Ubuntu python, ensurepip (python3-venv) is not; pip runs
    # from its own wheel instead, offline.
    run "$PYTHON" -m venv --without-pip "$P$REL"
    run "$P$REL/bin/python" "$pip_wheel/pip" install --quiet --no-index --no-cache-dir --disable-pip-version-check \
        --find-links "$BUNDLE/wheels" "minegate==$BUNDLE_VERSION"
    run cp -R "$BUNDLE/models" "$P$REL/models"
    run install -d -m 0755 "$P$REL/share/minegate" "$P$REL/share/doc/minegate"
    run cp -R "$BUNDLE/examples" "$P$REL/share/minegate/examples"
    run cp "$BUNDLE/systemd/site.conf.example" "$P$REL/share/minegate/site.conf.example"
    run cp "$BUNDLE/README.md" "$P$REL/share/doc/minegate/README.md"
    run cp "$BUNDLE/INSTALL.md" "$P$REL/share/doc/minegate/INSTALL.md"
    run cp "$BUNDLE/bundle.json" "$P$REL/share/minegate/bundle.json"
    run install -m 0755 "$BUNDLE/install.sh" "$P$REL/share/minegate/install.sh"  # for --rollback without the bundle
    # Written last: a release without it is unfinished and is rebuilt by the next run.
    if [ "$DRY_RUN" = 1 ]; then
        write_file "$stamp" </dev/null
    else
        echo "$BUNDLE_SUM" | write_file "$stamp"
    fi
}

ensure_config() {
    ensure_dir /etc/minegate 0755
    if [ -f "$P/etc/minegate/gateway.yaml" ]; then
        say "ok: /etc/minegate/gateway.yaml exists (left as it is)"
    else
        run install -m 0644 "$BUNDLE/examples/gateway.yaml" "$P/etc/minegate/gateway.yaml"
        NEW_CONFIG=1
    fi
}

# The release about to become current must accept the site's configuration: an upgrade that refuses it stops here,
# with the old release still current and running.
check_config_with_release() {
    if [ "$DRY_RUN" = 1 ]; then
        echo "would run: $P$REL/bin/minegate check $P/etc/minegate/gateway.yaml"
        return
    fi
    if ! "$P$REL/bin/minegate" check "$P/etc/minegate/gateway.yaml" >/dev/null; then
        die "minegate $BUNDLE_VERSION refuses /etc/minegate/gateway.yaml (messages above); fix the file and run" \
            "install.sh again. The current release is unchanged."
    fi
    say "ok: minegate $BUNDLE_VERSION accepts /etc/minegate/gateway.yaml"
}

switch_current() {
    local target=releases/$BUNDLE_VERSION current
    current=$(readlink "$P/opt/minegate/current" 2>/dev/null || true)
    if [ "$current" = "$target" ]; then
        say "ok: current -> $target"
    else
        if [ -n "$current" ]; then
            run ln -sfn "$current" "$P/opt/minegate/previous"
            UPGRADED_FROM=${current#releases/}
        fi
        # Atomic: a new link renamed over the old one; the unit never sees a missing /opt/minegate/current.
        run ln -sfn "$target" "$P/opt/minegate/current.new"
        run mv -T "$P/opt/minegate/current.new" "$P/opt/minegate/current"
    fi
    if [ "$(readlink "$P/opt/minegate/models" 2>/dev/null || true)" != current/models ]; then
        run ln -sfn current/models "$P/opt/minegate/models"
    fi
    if [ "$(readlink "$P/usr/local/bin/minegate" 2>/dev/null || true)" != /opt/minegate/current/bin/minegate ]; then
        ensure_dir /usr/local/bin 0755
        run ln -sfn /opt/minegate/current/bin/minegate "$P/usr/local/bin/minegate"
    fi
    prune_releases
}

prune_releases() {  # keep current and previous only: an SD card has no room for every release
    local keep_current keep_previous dir name
    keep_current=$(readlink "$P/opt/minegate/current" 2>/dev/null || echo "releases/$BUNDLE_VERSION")
    keep_previous=$(readlink "$P/opt/minegate/previous" 2>/dev/null || true)
    [ "$DRY_RUN" = 0 ] || keep_current="releases/$BUNDLE_VERSION"
    for dir in "$P"/opt/minegate/releases/*; do
        [ -d "$dir" ] || continue
        name=releases/$(basename "$dir")
        [ "$name" = "$keep_current" ] || [ "$name" = "$keep_previous" ] || [ "$name" = "releases/$BUNDLE_VERSION" ] ||
            run rm -rf "$dir"
    done
}

install_unit() {
    local unit_dir=/etc/systemd/system
    ensure_dir "$unit_dir" 0755
    if cmp -s "$BUNDLE/systemd/minegate.service" "$P$unit_dir/minegate.service"; then
        say "ok: $unit_dir/minegate.service is this bundle's"
    else
        run install -m 0644 "$BUNDLE/systemd/minegate.service" "$P$unit_dir/minegate.service"
        UNIT_CHANGED=1
    fi
    ensure_dir "$unit_dir/minegate.service.d" 0755
    if ! cmp -s "$BUNDLE/systemd/site.conf.example" "$P$unit_dir/minegate.service.d/site.conf.example"; then
        run install -m 0644 "$BUNDLE/systemd/site.conf.example" "$P$unit_dir/minegate.service.d/site.conf.example"
    fi
    if ! booted_with_systemd; then
        say "not booted with systemd (a chroot, a container or --root): skipping systemctl; on the gateway run" \
            "'systemctl daemon-reload && systemctl enable minegate'"
        return
    fi
    if [ "${UNIT_CHANGED:-0}" = 1 ]; then
        run systemctl daemon-reload
    fi
    if [ "$ENABLE" = 1 ]; then
        if systemctl is-enabled --quiet minegate 2>/dev/null; then
            say "ok: minegate.service is enabled"
        else
            run systemctl enable minegate.service
        fi
    fi
    if systemctl is-active --quiet minegate 2>/dev/null; then
        if [ -n "${UPGRADED_FROM:-}" ] || [ "${UNIT_CHANGED:-0}" = 1 ]; then
            run systemctl restart minegate.service
        fi
    elif [ "${NEW_CONFIG:-0}" = 1 ]; then
        say "edit /etc/minegate/gateway.yaml, run 'minegate doctor /etc/minegate/gateway.yaml', then" \
            "'systemctl start minegate'"
    fi
}

rollback() {
    local current previous
    current=$(readlink "$P/opt/minegate/current" 2>/dev/null || true)
    previous=$(readlink "$P/opt/minegate/previous" 2>/dev/null || true)
    [ -n "$previous" ] && [ -d "$P/opt/minegate/$previous" ] ||
        die "nothing to roll back to: /opt/minegate/previous does not name an installed release"
    [ -x "$P/opt/minegate/$previous/bin/minegate" ] ||
        die "/opt/minegate/$previous is incomplete (no bin/minegate); cannot roll back to it"
    say "rolling back: current $current -> $previous"
    run ln -sfn "$previous" "$P/opt/minegate/current.new"
    run mv -T "$P/opt/minegate/current.new" "$P/opt/minegate/current"
    run ln -sfn "$current" "$P/opt/minegate/previous"
    if booted_with_systemd && systemctl is-active --quiet minegate 2>/dev/null; then
        run systemctl restart minegate.service
    fi
}

# ---- main -----------------------------------------------------------------------------------------------------
[ "$DRY_RUN" = 1 ] && say "dry run: nothing will be changed"
if [ -z "$ROOT" ] && ! have_root_rights && [ "$DRY_RUN" = 0 ]; then
    die "run as root (sudo $0): it creates a system user and writes /opt, /etc and /var"
fi
[ -z "$ROOT" ] || [ -d "$ROOT" ] || die "--root $ROOT is not a directory"
check_platform

if [ "$ROLLBACK" = 1 ]; then
    rollback
    exit 0
fi

load_bundle
verify_bundle
find_python
say "python: $PYTHON ($PYTHON_VERSION)"
ensure_user
owner_spec
ensure_dir /opt/minegate 0755
ensure_dir /var/lib/minegate 0750 "$OWNER"
ensure_dir /var/log/minegate 0750 "$OWNER"
install_release
ensure_config
check_config_with_release
switch_current
install_unit

if [ "$CHANGED" = 0 ]; then
    say "nothing to do: minegate $BUNDLE_VERSION is installed and current"
elif [ "$DRY_RUN" = 1 ]; then
    say "dry run: $CHANGED action(s) would be taken"
else
    say "done: minegate $BUNDLE_VERSION is current${UPGRADED_FROM:+ (previous: $UPGRADED_FROM; --rollback returns to it)}"
fi
