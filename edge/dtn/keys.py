"""CurveZMQ keys for DTN links: one key pair per node, a keys directory that says which peers may connect.

Layout of a keys directory (what ``minegate dtn keygen`` writes and what a node loads)::

    <node>.key   this node's secret certificate (public + secret key), mode 0600, never leaves the node
    <node>.pub   a node's public certificate; copy every peer's .pub into every node's keys directory

A node accepts a connection only from a key listed in its directory (or in the allowed subset it is given),
and it knows which node id each key belongs to: a peer that says it is ``g3`` must hold ``g3.pub``'s key.
Files use ZeroMQ's certificate format (the one ``zmq.auth.load_certificate`` and czmq's zcert read), so keys
can be inspected and reused with standard ZeroMQ tools.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import stat
import sys
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import zmq
import zmq.auth
from zmq.utils import z85

from edge.dtn.bundle import NODE_ID_PATTERN

SECRET_SUFFIX = ".key"  # noqa: S105 -- a file suffix, not a secret
PUBLIC_SUFFIX = ".pub"
_Z85_KEY_CHARS = 40


class KeyFileError(ValueError):
    """A key file or keys directory that cannot be used; the message names the file and the fix."""


@dataclass(frozen=True)
class NodeKeys:
    """This node's CurveZMQ key pair (z85 text, 40 characters each)."""

    node_id: str
    public: bytes
    secret: bytes = field(repr=False)


@dataclass(frozen=True)
class KeyRing:
    """This node's key pair and the public keys of the peers it accepts, by node id."""

    own: NodeKeys
    peers: Mapping[str, bytes]
    _by_key: dict[bytes, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_key: dict[bytes, str] = {}
        for node, key in self.peers.items():
            _check_public(key, f"public key of {node!r}")
            if key in by_key:
                raise KeyFileError(
                    f"nodes {by_key[key]!r} and {node!r} have the same public key; every node needs its own key "
                    "pair (run `minegate dtn keygen` for one of them again)"
                )
            by_key[key] = node
        if self.own.public in by_key and by_key[self.own.public] != self.own.node_id:
            raise KeyFileError(f"node {by_key[self.own.public]!r} has this node's ({self.own.node_id!r}) public key")
        object.__setattr__(self, "_by_key", by_key)  # frozen dataclass: the index is built once here

    def node_for_key(self, public: bytes) -> str | None:
        """The peer node id that owns a z85 public key, or None for a key this node does not accept."""
        return self._by_key.get(public)

    def public_key(self, node_id: str) -> bytes:
        try:
            return self.peers[node_id]
        except KeyError:
            known = ", ".join(sorted(self.peers)) or "none"
            raise KeyFileError(
                f"no public key for peer {node_id!r} (known peers: {known}); copy {node_id}{PUBLIC_SUFFIX} "
                "into this node's keys directory"
            ) from None


def generate(keys_dir: str | Path, node_id: str, *, force: bool = False) -> tuple[Path, Path]:
    """Create ``<node>.key`` (mode 0600) and ``<node>.pub`` in ``keys_dir``; returns (secret path, public path).

    An existing key is never overwritten unless ``force``: replacing a node's key locks it out of every peer
    until the new ``.pub`` is distributed.
    """
    _check_node_id(node_id)
    directory = Path(keys_dir)
    directory.mkdir(parents=True, exist_ok=True)
    secret_path = directory / f"{node_id}{SECRET_SUFFIX}"
    public_path = directory / f"{node_id}{PUBLIC_SUFFIX}"
    if not force:
        for path in (secret_path, public_path):
            if path.exists():
                raise KeyFileError(f"{path} already exists; pass --force to replace the key of node {node_id!r}")
    public, secret = zmq.curve_keypair()
    _write_atomically(secret_path, _certificate(node_id, public, secret), mode=0o600)
    _write_atomically(public_path, _certificate(node_id, public, None), mode=0o644)
    return secret_path, public_path


def load_secret(path: str | Path, node_id: str) -> NodeKeys:
    """This node's key pair from its ``.key`` file; refuses a file others can read, or a mismatched pair."""
    path = Path(path)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        raise KeyFileError(
            f"secret key {path} does not exist; create it with `minegate dtn keygen --dir {path.parent} {node_id}`"
        ) from None
    if mode & 0o077:
        raise KeyFileError(f"secret key {path} has mode {mode:04o} (readable by others); run `chmod 600 {path}`")
    public, secret = _read_certificate(path)
    if secret is None:
        raise KeyFileError(f"{path} holds no secret-key; a node's {SECRET_SUFFIX} file must hold its key pair")
    _check_public(public, f"public-key in {path}")
    _check_public(secret, f"secret-key in {path}")
    if zmq.curve_public(secret) != public:
        raise KeyFileError(f"{path}: the secret-key does not belong to the public-key; regenerate with --force")
    return NodeKeys(node_id, public, secret)


def load_public(path: str | Path) -> bytes:
    """A z85 public key from a ``.pub`` (or ``.key``) certificate file."""
    public, _ = _read_certificate(Path(path))
    _check_public(public, f"public-key in {path}")
    return public


def load_keyring(keys_dir: str | Path, node_id: str, *, allowed: Collection[str] | None = None) -> KeyRing:
    """This node's key pair and the peers it accepts: every ``<peer>.pub`` in ``keys_dir`` or only ``allowed``."""
    _check_node_id(node_id)
    directory = Path(keys_dir)
    if not directory.is_dir():
        raise KeyFileError(f"keys directory {directory} does not exist or is not a directory")
    own = load_secret(directory / f"{node_id}{SECRET_SUFFIX}", node_id)
    peers: dict[str, bytes] = {}
    for path in sorted(directory.glob(f"*{PUBLIC_SUFFIX}")):
        peer = path.name[: -len(PUBLIC_SUFFIX)]
        if peer == node_id or (allowed is not None and peer not in allowed):
            continue
        if not NODE_ID_PATTERN.fullmatch(peer):
            raise KeyFileError(f"{path}: {peer!r} is not a node id, so the key cannot be attributed to a peer")
        peers[peer] = load_public(path)
    if allowed is not None:
        missing = sorted(set(allowed) - set(peers) - {node_id})
        if missing:
            raise KeyFileError(
                f"allowed peers {', '.join(missing)} have no {PUBLIC_SUFFIX} file in {directory}; copy their public "
                "keys there"
            )
    return KeyRing(own, peers)


def add_keygen_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("nodes", nargs="+", metavar="NODE", help="node id(s) to create a key pair for")
    parser.add_argument("--dir", dest="keys_dir", type=Path, required=True, help="keys directory to write into")
    parser.add_argument("--force", action="store_true", help="replace an existing key (the node must redistribute)")


def keygen_command(args: argparse.Namespace) -> int:
    """``minegate dtn keygen``: writes ``<node>.key`` and ``<node>.pub`` per node; 0 on success, 2 on an error."""
    try:
        for node in args.nodes:
            secret_path, public_path = generate(args.keys_dir, node, force=args.force)
            sys.stdout.write(f"{node}: secret {secret_path} (keep on the node), public {public_path} (give to peers)\n")
    except (KeyFileError, OSError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    return 0


def keygen_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="minegate dtn keygen", description="Create CurveZMQ key pairs for DTN nodes (secret .key, public .pub)."
    )
    add_keygen_arguments(parser)
    return keygen_command(parser.parse_args(argv))


def _check_node_id(node_id: str) -> None:
    if not isinstance(node_id, str) or not NODE_ID_PATTERN.fullmatch(node_id):
        raise KeyFileError(
            f"node id {node_id!r} is not valid: 1-64 characters, letters, digits, '_', '.', '-', starting with a "
            "letter or digit"
        )


def _check_public(key: bytes, what: str) -> None:
    if len(key) != _Z85_KEY_CHARS:
        raise KeyFileError(f"{what} must be {_Z85_KEY_CHARS} z85 characters, got {len(key)}")
    try:
        z85.decode(key)
    except (ValueError, KeyError, IndexError) as exc:  # z85 raises KeyError for a character outside its alphabet
        raise KeyFileError(f"{what} is not z85 text: {exc!r}") from None


def _read_certificate(path: Path) -> tuple[bytes, bytes | None]:
    try:
        return zmq.auth.load_certificate(path)
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {path}: {exc}") from None
    except ValueError as exc:
        raise KeyFileError(f"{path} is not a ZeroMQ certificate: {exc}") from None


def _certificate(node_id: str, public: bytes, secret: bytes | None) -> str:
    what = "Secret" if secret is not None else "Public"
    lines = [
        f"#   ****  Generated by minegate on {datetime.datetime.now(datetime.UTC).isoformat(timespec='seconds')}  ****",
        f"#   ZeroMQ CURVE {what} Certificate for DTN node {node_id}",
    ]
    if secret is not None:
        lines.append("#   Keep on this node only: it proves the node's identity to every peer.")
    lines += ["", "metadata", f'    node = "{node_id}"', "curve", f'    public-key = "{public.decode("ascii")}"']
    if secret is not None:
        lines.append(f'    secret-key = "{secret.decode("ascii")}"')
    return "\n".join(lines) + "\n"


def _write_atomically(path: Path, text: str, *, mode: int) -> None:
    # Created with its final mode (never briefly world-readable), renamed into place so a crash leaves the old
    # file or the new one, never half a key.
    tmp = path.with_name(f".{path.name}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)  # the umask may have narrowed the creation mode of the public file
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
