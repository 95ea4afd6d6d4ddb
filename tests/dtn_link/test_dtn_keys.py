"""Key generation and loading: file modes, refusals with actionable messages, the CLI entry point."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import zmq.auth

from edge.dtn.keys import KeyFileError, generate, keygen_main, load_keyring, load_public, load_secret


def test_generate_writes_a_private_secret_and_a_public_certificate(tmp_path: Path) -> None:
    secret_path, public_path = generate(tmp_path / "keys", "g1")
    assert secret_path.name == "g1.key"
    assert public_path.name == "g1.pub"
    assert stat.S_IMODE(secret_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(public_path.stat().st_mode) == 0o644
    keys = load_secret(secret_path, "g1")
    assert load_public(public_path) == keys.public
    # Standard ZeroMQ tooling reads the same files.
    assert zmq.auth.load_certificate(public_path) == (keys.public, None)
    assert zmq.auth.load_certificate(secret_path) == (keys.public, keys.secret)
    assert "secret-key" not in public_path.read_text()


def test_existing_key_is_kept_unless_forced(tmp_path: Path) -> None:
    generate(tmp_path, "g1")
    before = load_public(tmp_path / "g1.pub")
    with pytest.raises(KeyFileError, match="already exists; pass --force"):
        generate(tmp_path, "g1")
    generate(tmp_path, "g1", force=True)
    assert load_public(tmp_path / "g1.pub") != before


def test_readable_secret_is_refused(tmp_path: Path) -> None:
    secret_path, _ = generate(tmp_path, "g1")
    os.chmod(secret_path, 0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_secret(secret_path, "g1")


def test_mismatched_pair_is_refused(tmp_path: Path) -> None:
    generate(tmp_path, "g1")
    generate(tmp_path, "g2")
    g2_public = load_public(tmp_path / "g2.pub").decode()
    text = (tmp_path / "g1.key").read_text()
    g1_public = load_public(tmp_path / "g1.pub").decode()
    (tmp_path / "g1.key").write_text(text.replace(g1_public, g2_public))
    with pytest.raises(KeyFileError, match="does not belong"):
        load_secret(tmp_path / "g1.key", "g1")


def test_keyring_maps_peers_by_key_and_honours_allowed(tmp_path: Path) -> None:
    for node in ("g1", "g2", "g3"):
        generate(tmp_path, node)
    ring = load_keyring(tmp_path, "g1")
    assert sorted(ring.peers) == ["g2", "g3"]
    assert ring.node_for_key(ring.peers["g2"]) == "g2"
    assert ring.node_for_key(ring.own.public) is None  # a node does not accept itself
    only = load_keyring(tmp_path, "g1", allowed=["g3"])
    assert list(only.peers) == ["g3"]
    with pytest.raises(KeyFileError, match=r"copy g2\.pub"):
        only.public_key("g2")
    with pytest.raises(KeyFileError, match=r"g9 have no \.pub"):
        load_keyring(tmp_path, "g1", allowed=["g9"])


def test_duplicate_public_keys_are_refused(tmp_path: Path) -> None:
    generate(tmp_path, "g1")
    generate(tmp_path, "g2")
    (tmp_path / "g3.pub").write_bytes((tmp_path / "g2.pub").read_bytes())
    with pytest.raises(KeyFileError, match="same public key"):
        load_keyring(tmp_path, "g1")


def test_missing_secret_names_the_command(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="minegate dtn keygen"):
        load_keyring(tmp_path, "g1")
    with pytest.raises(KeyFileError, match="is not valid"):
        generate(tmp_path, "../evil")


def test_keygen_main(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert keygen_main(["--dir", str(tmp_path), "g1", "c7"]) == 0
    assert (tmp_path / "g1.key").exists()
    assert (tmp_path / "c7.pub").exists()
    assert "c7: secret" in capsys.readouterr().out
    assert keygen_main(["--dir", str(tmp_path), "g1"]) == 2
    assert "--force" in capsys.readouterr().err
    assert keygen_main(["--dir", str(tmp_path), "--force", "g1"]) == 0
