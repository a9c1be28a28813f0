"""The encrypted file format (brm_app/encryption/files.py): any size round-trips, in chunks; a
file cut short at a chunk's end, with chunks swapped, under another name or role, or with a key
missing from the ring does not open; a rewrap changes the header only."""

from __future__ import annotations

import io
import secrets

import pytest

from brm_app.encryption import files
from brm_app.encryption.keyring import KeyRing

CHUNK = files.CHUNK


def _ring(*kids: str) -> KeyRing:
    return KeyRing(tuple((k, secrets.token_bytes(32)) for k in kids), b"i" * 32)


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 2 * CHUNK + 7])
def test_every_size_round_trips_and_the_writer_matches(size):
    ring = _ring("k1")
    data = secrets.token_bytes(size)
    sealed = files.seal_bytes(data, role="attachment", name="n", ring=ring)
    assert files.open_bytes(sealed, role="attachment", name="n", ring=ring) == data
    out = io.BytesIO()
    with files.SealingWriter(out, role="attachment", name="n", ring=ring) as w:
        for i in range(0, size, 1000_003):
            w.write(data[i : i + 1000_003])
    assert len(out.getvalue()) == len(sealed)
    assert files.open_bytes(out.getvalue(), role="attachment", name="n", ring=ring) == data


def test_cut_reordered_renamed_or_keyless_files_do_not_open():
    ring = _ring("k1")
    data = secrets.token_bytes(3 * CHUNK)
    sealed = files.seal_bytes(data, role="backup", name="b", ring=ring)
    header = len(sealed) - 3 * (CHUNK + 16)
    c0, c1 = (
        slice(header, header + CHUNK + 16),
        slice(header + CHUNK + 16, header + 2 * (CHUNK + 16)),
    )
    cut = sealed[: header + 2 * (CHUNK + 16)]  # the last chunk dropped
    swapped = sealed[:header] + sealed[c1] + sealed[c0] + sealed[header + 2 * (CHUNK + 16) :]
    for blob, role, name in (
        (cut, "backup", "b"),
        (swapped, "backup", "b"),
        (sealed, "backup", "other"),
        (sealed, "attachment", "b"),
        (b"clear text", "backup", "b"),
    ):
        with pytest.raises(files.UndecryptableFile):
            files.open_bytes(blob, role=role, name=name, ring=ring)
    with pytest.raises(files.UndecryptableFile, match="not in the key ring"):
        files.open_bytes(sealed, role="backup", name="b", ring=_ring("k2"))


def test_rewrap_changes_the_header_only(tmp_path, monkeypatch):
    ring = _ring("k1")
    monkeypatch.setattr(files, "_ring", lambda: ring)
    path = tmp_path / "x"
    files.write_file(path, b"payload" * 1000, role="import")
    before = path.read_bytes()
    assert files.rewrap_file(path, role="import") is False  # already under the newest key
    ring.keys = (*ring.keys, ("k22", secrets.token_bytes(32)))  # a longer key id: a new file
    ring.__post_init__()
    assert files.rewrap_file(path, role="import") is True
    after = path.read_bytes()
    assert files.key_id_of_file(path) == "k22"
    assert after[-7016:] == before[-7016:] and after != before
    assert files.read_file(path, role="import") == b"payload" * 1000
    ring.keys = (*ring.keys, ("k23", secrets.token_bytes(32)))  # the same length: in place
    ring.__post_init__()
    assert files.rewrap_file(path, role="import") is True
    assert files.key_id_of_file(path) == "k23" and len(path.read_bytes()) == len(after)
    ring.keys = ring.keys[2:]  # k1 and k22 gone
    ring.__post_init__()
    assert files.read_file(path, role="import") == b"payload" * 1000
