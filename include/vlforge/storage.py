"""``VLFORGE_HOME`` on an object store (``s3://bucket/prefix``, or any fsspec URI): what workers share through it.

A task works on a local working copy (``RunDescription.working``); what it shares with tasks on other
machines goes through ``ObjectStoreHome`` only (ADR 0012):

- the content-addressed image store (``ObjectStoreImages``): an object's name is its content's sha256,
  so uploading it when absent is safe from any number of workers, and a task fetches only the objects
  it opens;
- the run folder (``download_folder`` / ``upload_changes``): mapped shards write distinct files, so each
  task uploads the files it added or changed and deletes the ones it deleted;
- releases (``publish_release``): an object store has no rename, so a release becomes visible through one
  final PUT: every other file first, ``RELEASE.json`` last, then ``LATEST``. A version folder without
  its ``RELEASE.json`` is an unfinished upload, and no reader here (``published_versions``,
  ``is_published``, ``latest_version``, ``current_version``, ``release.read_release``) ever shows it.

The endpoint and credentials are the SDK's and fsspec's own settings, nothing of vlforge's: for S3,
``AWS_ENDPOINT_URL`` (an S3-compatible server), ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` or a
profile, and any fsspec configuration (``FSSPEC_S3_ENDPOINT_URL``, read when fsspec is imported, or
``~/.config/fsspec/``).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import fsspec

from vlforge.layout import DatasetReleases, ReleaseDir, checked_name, store_root
from vlforge.store import ImageStore, atomic_write_text

# (size, mtime in ns) of each file of a local folder, by its posix path inside the folder.
Snapshot = dict[str, tuple[int, int]]
# The layout's names relative to the home: the same objects that name local files name the keys.
_NAMES_HOME = Path()


def relative_key(path: Path) -> str:
    """A layout path built on ``Path()`` (``RunDir.of(Path(), ...)``) as an object key below the home."""
    return path.as_posix()


def snapshot(folder: Path) -> Snapshot:
    """Every file below ``folder`` with its size and modification time."""
    if not folder.is_dir():
        return {}
    files = (path for path in folder.rglob("*") if path.is_file())
    return {path.relative_to(folder).as_posix(): (path.stat().st_size, path.stat().st_mtime_ns) for path in files}


def read_url_text(url: str) -> str:
    """The text of the object at ``url`` (``FileNotFoundError`` naming it when there is none)."""
    filesystem, key = fsspec.core.url_to_fs(url, use_listings_cache=False)
    try:
        return filesystem.cat_file(key).decode("utf-8")
    except FileNotFoundError as error:
        raise FileNotFoundError(f"no object {url}") from error


def write_text_at(location: Path | str, text: str) -> None:
    """Write ``text`` to a local file (temp file, then rename) or to the object at a URL (one PUT): a reader sees
    the old content or the new, never half."""
    if isinstance(location, Path):
        atomic_write_text(location, text)
        return
    filesystem, key = fsspec.core.url_to_fs(location, use_listings_cache=False)
    filesystem.pipe_file(key, text.encode("utf-8"))


def remove_at(location: Path | str) -> None:
    """Remove the local file or the object at a URL, if there is one."""
    if isinstance(location, Path):
        location.unlink(missing_ok=True)
        return
    filesystem, key = fsspec.core.url_to_fs(location, use_listings_cache=False)
    if filesystem.exists(key):
        filesystem.rm_file(key)


def switch_current_pointer(releases_url: str, version: str) -> None:
    """Point ``<releases_url>/current`` (``releases/<dataset>`` on an object store) at a published version with one PUT.

    An object store has no links: the pointer is an object holding the version's name.

    Raises:
        FileNotFoundError: the version's upload has not finished (no ``RELEASE.json``).
    """
    checked_name("version", version)
    filesystem, key = fsspec.core.url_to_fs(releases_url.rstrip("/"), use_listings_cache=False)
    if not filesystem.exists(f"{key}/{version}/{ReleaseDir(_NAMES_HOME).release_json.name}"):
        raise FileNotFoundError(f"no published release {releases_url.rstrip('/')}/{version} to make current")
    filesystem.pipe_file(f"{key}/{DatasetReleases(_NAMES_HOME).current.name}", (version + "\n").encode("utf-8"))


class ObjectStoreHome:
    """``VLFORGE_HOME`` as an fsspec URI: the keys of the layout (``vlforge.layout``) below its prefix."""

    def __init__(self, uri: str) -> None:
        self.uri = uri.rstrip("/")
        # Listings are never cached: other workers add objects while this one runs.
        self.fs, self.root = fsspec.core.url_to_fs(self.uri, use_listings_cache=False)

    def url(self, relative: str) -> str:
        return f"{self.uri}/{relative}"

    def _key(self, relative: str) -> str:
        return f"{self.root}/{relative}"

    def exists(self, relative: str) -> bool:
        return bool(self.fs.exists(self._key(relative)))

    def read_text(self, relative: str) -> str | None:
        """The object's text, or ``None`` when there is no such object."""
        try:
            return self.fs.cat_file(self._key(relative)).decode("utf-8")
        except FileNotFoundError:
            return None

    def write_text(self, relative: str, text: str) -> None:
        """One PUT: readers see the old object or the new one."""
        self.fs.pipe_file(self._key(relative), text.encode("utf-8"))

    def fetch(self, relative: str, local: Path) -> bool:
        """Download the object ``relative`` to ``local`` through a temporary name; whether there was one."""
        local.parent.mkdir(parents=True, exist_ok=True)
        temporary = local.with_name(f".{local.name}.{uuid.uuid4().hex}.part")
        try:
            self.fs.get_file(self._key(relative), str(temporary))
            os.replace(temporary, local)
        except FileNotFoundError:
            return False
        finally:
            temporary.unlink(missing_ok=True)
        return True

    def upload_if_absent(self, local: Path, relative: str) -> None:
        """Upload an immutable object (content-addressed) unless it is there already."""
        if not self.exists(relative):
            self.fs.put_file(str(local), self._key(relative))

    def download_folder(self, relative: str, local: Path) -> Snapshot:
        """Copy every object below ``relative`` into ``local``.

        Returns:
            ``local``'s snapshot afterwards, which ``upload_changes`` compares with.
        """
        prefix = self._key(relative)
        keys = [str(key) for key in self.fs.find(prefix)]
        targets = [local / key[len(prefix) + 1 :] for key in keys]
        for target in targets:
            target.parent.mkdir(parents=True, exist_ok=True)
        if keys:
            self.fs.get(keys, [str(target) for target in targets])
        return snapshot(local)

    def upload_changes(self, relative: str, local: Path, before: Snapshot) -> None:
        """Upload the files of ``local`` added or changed since ``before`` and delete the objects of the removed ones."""
        after = snapshot(local)
        changed = sorted(name for name, stamp in after.items() if before.get(name) != stamp)
        if changed:
            self.fs.put([str(local / name) for name in changed], [self._key(f"{relative}/{name}") for name in changed])
        removed = sorted(name for name in before if name not in after)
        if removed:
            self.fs.rm([self._key(f"{relative}/{name}") for name in removed])

    # Releases: RELEASE.json decides whether a version folder is a release.
    def release_key(self, dataset: str, version: str) -> str:
        return relative_key(DatasetReleases.of(_NAMES_HOME, dataset).version(version).path)

    def is_published(self, dataset: str, version: str) -> bool:
        return self.exists(relative_key(DatasetReleases.of(_NAMES_HOME, dataset).version(version).release_json))

    def published_versions(self, dataset: str) -> list[str]:
        """The dataset's versions whose upload finished (their ``RELEASE.json`` is there), sorted."""
        releases = DatasetReleases.of(_NAMES_HOME, dataset)
        pattern = self._key(relative_key(releases.version("*").release_json))
        return sorted(Path(str(key)).parent.name for key in self.fs.glob(pattern))

    def latest_version(self, dataset: str) -> str | None:
        text = self.read_text(relative_key(DatasetReleases.of(_NAMES_HOME, dataset).latest))
        return text.strip() if text else None

    def current_version(self, dataset: str) -> str | None:
        """The version the ``current`` pointer names (an object store has no links: the pointer holds the name)."""
        text = self.read_text(relative_key(DatasetReleases.of(_NAMES_HOME, dataset).current))
        return text.strip() if text else None

    def publish_release(self, folder: Path, dataset: str, version: str) -> str:
        """Upload a release folder built locally so that it appears whole, and make it the ``LATEST``.

        Every file but ``RELEASE.json`` goes first; ``RELEASE.json`` is the last PUT of the folder, so a
        reader that honours it (every one here) sees all of the release or none; ``LATEST`` follows.

        Returns:
            The release's URL.
        """
        release = ReleaseDir(folder)
        relative = self.release_key(dataset, version)
        files = sorted(path for path in folder.rglob("*") if path.is_file() and path != release.release_json)
        if files:
            self.fs.put([str(path) for path in files], [self._key(f"{relative}/{path.relative_to(folder).as_posix()}") for path in files])
        self.fs.put_file(str(release.release_json), self._key(f"{relative}/{release.release_json.name}"))
        self.write_text(relative_key(DatasetReleases.of(_NAMES_HOME, dataset).latest), version + "\n")
        return self.url(relative)


class ObjectStoreImages(ImageStore):
    """The content-addressed store on an object store, through a local copy of the objects this task opens.

    ``root`` is the task's local copy (the working copy's ``store/images``); every object put is uploaded
    at once unless already there, and ``path_for`` fetches a missing one before returning its local path.
    """

    def __init__(self, root: Path, home: ObjectStoreHome) -> None:
        super().__init__(root)
        self.home = home

    def _key(self, sha256: str, extension: str) -> str:
        return relative_key(ImageStore(store_root(_NAMES_HOME)).path_for(sha256, extension))

    def path_for(self, sha256: str, extension: str) -> Path:
        local = super().path_for(sha256, extension)
        if not local.is_file():
            self.home.fetch(self._key(sha256, extension), local)
        return local

    def put(self, data: bytes, extension: str, sha256: str | None = None) -> str:
        digest = super().put(data, extension, sha256)
        self.home.upload_if_absent(super().path_for(digest, extension), self._key(digest, extension))
        return digest
