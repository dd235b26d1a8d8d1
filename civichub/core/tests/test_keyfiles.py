from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from civichub.core.keyfiles import read_or_create


def _create(path: str) -> bytes:
    import os

    return read_or_create(Path(path), lambda: os.urandom(16).hex().encode())


def test_processes_racing_to_create_a_key_all_get_the_same_one(tmp_path: Path) -> None:
    target = tmp_path / "keys" / "identity.key"
    with ProcessPoolExecutor(max_workers=4) as pool:
        keys = list(pool.map(_create, [str(target)] * 16))
    assert len(set(keys)) == 1
    assert target.read_bytes().strip() == keys[0]
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in target.parent.iterdir()] == ["identity.key"]  # no temporary left


def test_an_existing_key_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "k"
    target.write_bytes(b"kept\n")
    assert read_or_create(target, lambda: b"new") == b"kept"
