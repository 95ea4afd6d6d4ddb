#!/bin/bash
# Prove the aarch64 bundle installs on an arm64 Debian bookworm system and `minegate check` runs there: an arm64
# chroot (debootstrap, executed through qemu-user-static and binfmt_misc), the bundle unpacked in it, install.sh
# run inside (twice: the second run must change nothing), then `minegate check` and `minegate doctor`.
# Not part of `make test` (a few minutes under emulation).
#
#   sudo deploy/qemu_arm64_check.sh [--bundle dist/minegate-<version>-aarch64.tar.gz] [--workdir var/qemu-arm64]
#                                   [--mirror URL] [--fresh-base]
#
# Needs root and the Debian packages qemu-user-static, debootstrap and binfmt-support; as root with apt-get
# usable they are installed, otherwise the script says which are missing and exits 0 (skipped). The debootstrapped
# base system is cached in WORKDIR/rootfs-base (--fresh-base rebuilds it); each run installs into a fresh copy.
set -eu

REPO=$(cd "$(dirname "$0")/.." && pwd)
WORKDIR=$REPO/var/qemu-arm64
BUNDLE=""
MIRROR=http://deb.debian.org/debian
FRESH_BASE=0
PACKAGES="qemu-user-static debootstrap binfmt-support"

while [ $# -gt 0 ]; do
    case "$1" in
        --bundle) BUNDLE=$2; shift ;;
        --workdir) WORKDIR=$2; shift ;;
        --mirror) MIRROR=$2; shift ;;
        --fresh-base) FRESH_BASE=1 ;;
        -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

skip() {
    echo "qemu_arm64_check: SKIPPED: $*"
    exit 0
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

if [ -z "$BUNDLE" ]; then
    BUNDLE=$(find "$REPO/dist" -maxdepth 1 -name 'minegate-*-aarch64.tar.gz' 2>/dev/null | sort | tail -n 1)
    [ -n "$BUNDLE" ] || { echo "no aarch64 bundle in dist/: run .venv/bin/python deploy/build_bundle.py" >&2; exit 2; }
fi
[ -f "$BUNDLE" ] || { echo "no such bundle: $BUNDLE" >&2; exit 2; }

[ "$(id -u)" = 0 ] || skip "needs root (debootstrap, chroot, binfmt_misc) and the Debian packages $PACKAGES"

missing=""
command -v debootstrap >/dev/null 2>&1 || missing="$missing debootstrap"
[ -x /usr/bin/qemu-aarch64-static ] || missing="$missing qemu-user-static"
command -v update-binfmts >/dev/null 2>&1 || missing="$missing binfmt-support"
if [ -n "$missing" ]; then
    if command -v apt-get >/dev/null 2>&1; then
        echo "installing$missing"
        # shellcheck disable=SC2086
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing; } ||
            skip "apt-get could not install$missing"
    else
        skip "the Debian packages$missing are not installed and apt-get is not available"
    fi
fi

# binfmt_misc lets the kernel run every arm64 binary in the chroot (not only the first) through qemu.
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    [ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc ||
        skip "cannot mount binfmt_misc (a container without that privilege?)"
    update-binfmts --enable qemu-aarch64 || true
    [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] ||
        skip "qemu-aarch64 is not registered with binfmt_misc (update-binfmts --enable qemu-aarch64 failed)"
fi

mkdir -p "$WORKDIR"
BASE=$WORKDIR/rootfs-base
ROOTFS=$WORKDIR/rootfs
started=$(now)

if [ "$FRESH_BASE" = 1 ]; then rm -rf "$BASE"; fi
if [ ! -f "$BASE/.complete" ]; then
    rm -rf "$BASE"
    t=$(now)
    echo "== debootstrap arm64 bookworm (minbase + python3) into $BASE"
    debootstrap --arch=arm64 --variant=minbase --include=python3 bookworm "$BASE" "$MIRROR" >"$WORKDIR/debootstrap.log" 2>&1 ||
        { tail -20 "$WORKDIR/debootstrap.log" >&2; echo "debootstrap failed (log: $WORKDIR/debootstrap.log)" >&2; exit 1; }
    touch "$BASE/.complete"
    echo "debootstrap: $(elapsed "$t") s"
fi

cleanup() {
    for m in dev/pts dev proc sys; do
        mountpoint -q "$ROOTFS/$m" 2>/dev/null && umount -l "$ROOTFS/$m"
    done
    return 0
}
trap cleanup EXIT

cleanup
rm -rf "$ROOTFS"
cp -a "$BASE" "$ROOTFS"
mount -t proc proc "$ROOTFS/proc"
# No sysfs: under qemu-user the arm64 cpuinfo library (in onnxruntime and LiteRT's XNNPACK) reads the x86 host's
# CPU topology from /sys and crashes (SIGSEGV at model load). Without /sys it falls back to defaults and runs.
mount --bind /dev "$ROOTFS/dev"
mount --bind /dev/pts "$ROOTFS/dev/pts"
cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf" 2>/dev/null || true

echo "== unpack $(basename "$BUNDLE") ($(du -h "$BUNDLE" | cut -f1))"
tar -xzf "$BUNDLE" -C "$ROOTFS/root"
name=$(basename "$BUNDLE" .tar.gz)

in_chroot() { chroot "$ROOTFS" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }

echo "== uname -m in the chroot: $(in_chroot uname -m); $(in_chroot python3 --version)"

t=$(now)
echo "== install.sh (first run)"
in_chroot /bin/bash "/root/$name/install.sh"
install_s=$(elapsed "$t")

t=$(now)
echo "== install.sh (second run: must change nothing)"
second=$(in_chroot /bin/bash "/root/$name/install.sh")
echo "$second"
second_s=$(elapsed "$t")
echo "$second" | grep -q "nothing to do" || { echo "FAIL: the second run changed something" >&2; exit 1; }

t=$(now)
echo "== minegate check /etc/minegate/gateway.yaml"
in_chroot /opt/minegate/current/bin/minegate check /etc/minegate/gateway.yaml
check_s=$(elapsed "$t")

t=$(now)
echo "== minegate doctor (no RS-485 adapter in a chroot: the serial-port check fails, the rest is the point)"
doctor_rc=0
in_chroot /opt/minegate/current/bin/minegate doctor /etc/minegate/gateway.yaml --models /opt/minegate/models ||
    doctor_rc=$?
doctor_s=$(elapsed "$t")

echo
echo "qemu_arm64_check: PASSED ($name on arm64 Debian bookworm under qemu-user)"
echo "  install ${install_s} s, second install ${second_s} s, minegate check ${check_s} s," \
    "doctor ${doctor_s} s (exit ${doctor_rc}), total $(elapsed "$started") s"
