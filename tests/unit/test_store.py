"""Atomic writes and the content-addressed image store."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from vlforge import store as store_module
from vlforge.store import ImageStore, atomic_write_bytes, atomic_write_text, sha256_bytes

# sha256 of b"abc" (FIPS 180-2 test vector)
ABC_SHA256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_sha256_bytes_is_the_hex_digest() -> None:
    assert sha256_bytes(b"abc") == ABC_SHA256


def test_put_names_the_file_by_its_sha256(store: ImageStore) -> None:
    digest = store.put(b"abc", "png")
    assert digest == ABC_SHA256
    path = store.root / "ba" / f"{ABC_SHA256}.png"
    assert store.path_for(digest, "png") == path
    assert path.read_bytes() == b"abc"
    assert store.contains(digest, "png")
    assert not store.contains(digest, "jpg")


def test_same_bytes_are_stored_once(store: ImageStore) -> None:
    first = store.put(b"abc", "png")
    modified = store.path_for(first, "png").stat().st_mtime_ns
    second = store.put(b"abc", "png")
    assert first == second
    assert [path.relative_to(store.root).as_posix() for path in store.root.rglob("*") if path.is_file()] == [
        f"ba/{ABC_SHA256}.png"
    ]
    assert store.path_for(first, "png").stat().st_mtime_ns == modified  # not rewritten


def test_put_with_the_digest_already_computed_does_not_hash_again(store: ImageStore, monkeypatch: pytest.MonkeyPatch) -> None:
    hashed: list[bytes] = []
    monkeypatch.setattr(store_module, "sha256_bytes", lambda data: hashed.append(data) or sha256_bytes(data))
    assert store.put(b"abc", "png", ABC_SHA256) == ABC_SHA256
    assert store.path_for(ABC_SHA256, "png").read_bytes() == b"abc" and hashed == []
    assert store.put(b"abcd", "png") == sha256_bytes(b"abcd") and hashed == [b"abcd"]


def test_different_bytes_get_different_files(store: ImageStore) -> None:
    real = Path(__file__).read_bytes()
    digests = {store.put(b"abc", "png"), store.put(real, "png")}
    assert digests == {ABC_SHA256, hashlib.sha256(real).hexdigest()}
    assert len([path for path in store.root.rglob("*") if path.is_file()]) == 2


def test_store_of_a_real_photo(fixtures_dir: Path, store: ImageStore) -> None:
    photo = (fixtures_dir / "qwen3vl_finetune/demo/images/COCO_train2014_000000580957.jpg").read_bytes()
    digest = store.put(photo, "jpg")
    assert digest == hashlib.sha256(photo).hexdigest()
    assert store.path_for(digest, "jpg").read_bytes() == photo


def test_atomic_write_replaces_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "deep/folder/manifest.json"
    atomic_write_text(target, "old")
    atomic_write_text(target, "new, 新")
    assert target.read_text(encoding="utf-8") == "new, 新"
    assert [path.name for path in target.parent.iterdir()] == ["manifest.json"]
    assert target.stat().st_mode & 0o777 == 0o644  # readable by trainers and workers running as other users


def test_exception_while_writing_keeps_old_file(tmp_path: Path) -> None:
    target = tmp_path / "manifest.json"
    atomic_write_bytes(target, b"old")
    with pytest.raises(TypeError):
        atomic_write_bytes(target, "not bytes")  # type: ignore[arg-type]  # fails inside handle.write
    assert target.read_bytes() == b"old"
    assert [path.name for path in tmp_path.iterdir()] == ["manifest.json"]


def test_exception_while_renaming_keeps_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "manifest.json"
    atomic_write_bytes(target, b"old")

    def failing_replace(source: str, destination: str) -> None:
        assert Path(source).read_bytes() == b"new"  # the new bytes were complete in the temporary file
        raise OSError("disk full")

    monkeypatch.setattr(store_module.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert [path.name for path in tmp_path.iterdir()] == ["manifest.json"]


def test_link_into_hard_links_the_stored_file(store: ImageStore, tmp_path: Path) -> None:
    digest = store.put(b"abc", "png")
    linked = store.link_into(digest, "png", tmp_path / "release/images")
    assert linked == tmp_path / "release/images" / f"{ABC_SHA256}.png"
    assert linked.read_bytes() == b"abc"
    assert os.path.samefile(linked, store.path_for(digest, "png"))
    assert store.link_into(digest, "png", tmp_path / "release/images") == linked  # a second call is a no-op


def test_link_into_copies_across_file_systems(
    store: ImageStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    digest = store.put(b"abc", "png")

    def cross_device(source: Path, target: Path) -> None:
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(store_module.os, "link", cross_device)
    copied = store.link_into(digest, "png", tmp_path / "elsewhere")
    assert copied.read_bytes() == b"abc"
    assert not os.path.samefile(copied, store.path_for(digest, "png"))
    assert [path.name for path in copied.parent.iterdir()] == [f"{ABC_SHA256}.png"]
