"""The review loop against a running Label Studio: push a release's review items, pull the adjudications.

``push`` makes one project per release (``project_title``) holding the release's
``review/label_config.xml`` and one task per item of ``review/review_tasks.json``,
every annotation round a prediction. Label Studio serves a local file only inside a
Local Files storage, and refuses one at its document root itself, so ``push`` adds a
storage at ``<release>/images`` (never synced: the tasks are imported, not scanned)
and points each task's image at its path under the document root. Pushing again
updates the label config and imports only the items the project does not hold yet.

``pull`` exports the project's annotated tasks. The reviewer's annotation (the one
marked ground truth, else the last one saved) becomes each task's only annotation,
marked ground truth: submitting in the labelling UI does not set that flag, and
ingest reads it as the item's gold round. The export is written into the folder of
Label Studio exports the next run reads (by default the release's own source folder),
named after the release, so pulling again replaces it.

The server is reached through the few REST calls of Label Studio's API that the loop
needs (``LabelStudioServer``, over httpx). label-studio-sdk is not used: every release of
it requires opencv-python(-headless) below 5, which vlforge's pinned OpenCV 5 excludes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from vlforge.ingest.base import image_roots
from vlforge.ingest.label_studio import REVIEW_ITEM_KEY
from vlforge.layout import ReleaseDir
from vlforge.quality.review import local_file_path, local_file_url
from vlforge.store import atomic_write_text

STORAGE_TITLE = "vlforge release images"
TITLE_LIMIT = 50  # Label Studio's maximum project title length
PAGE_SIZE = 100


class ReviewLoopError(Exception):
    """The release, the document root or the server cannot do what was asked; the message says why."""


class LabelStudioServer:
    """The calls of Label Studio's REST API (https://api.labelstud.io) that the review loop makes.

    Authenticates with an API token (``Authorization: Token ...``: Label Studio's legacy
    tokens, enabled with ``--enable-legacy-api-token``). Every error names the server,
    the request and the answer.
    """

    def __init__(self, base_url: str, api_key: str, timeout_s: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, headers={"Authorization": f"Token {api_key}"}, timeout=timeout_s)

    def projects(self, title: str) -> list[dict[str, Any]]:
        """Projects whose title is exactly ``title``."""
        found, page = [], 1
        while True:
            answer = self._call("GET", "/api/projects", params={"title": title, "page": page, "page_size": PAGE_SIZE})
            found += [project for project in answer["results"] if project["title"] == title]
            if not answer.get("next"):
                return found
            page += 1

    def create_project(self, title: str, description: str, label_config: str) -> dict[str, Any]:
        return self._call("POST", "/api/projects", json={"title": title, "description": description, "label_config": label_config})

    def update_label_config(self, project: int, label_config: str) -> None:
        self._call("PATCH", f"/api/projects/{project}", json={"label_config": label_config})

    def local_storages(self, project: int) -> list[dict[str, Any]]:
        return self._call("GET", "/api/storages/localfiles", params={"project": project})

    def create_local_storage(self, project: int, path: Path, title: str) -> None:
        """A Local Files import storage at ``path``; never synced: it only lets Label Studio serve the files."""
        self._call("POST", "/api/storages/localfiles", json={"project": project, "path": str(path), "use_blob_urls": True, "title": title})

    def tasks(self, project: int) -> list[dict[str, Any]]:
        found, page = [], 1
        while True:
            answer = self._call("GET", "/api/tasks", params={"project": project, "page": page, "page_size": PAGE_SIZE})
            found += answer["tasks"]
            if not answer["tasks"] or len(found) >= answer["total"]:
                return found
            page += 1

    def import_tasks(self, project: int, tasks: list[dict[str, Any]]) -> None:
        self._call("POST", f"/api/projects/{project}/import", json=tasks)

    def export_annotated(self, project: int) -> list[dict[str, Any]]:
        """The JSON export of the tasks that have annotations."""
        return self._call("GET", f"/api/projects/{project}/export", params={"export_type": "JSON", "download_all_tasks": "false"})

    def _call(self, method: str, path: str, **request: Any) -> Any:  # noqa: ANN401 - JSON
        try:
            response = self._http.request(method, path, **request)
        except httpx.HTTPError as error:
            raise ReviewLoopError(f"cannot reach Label Studio at {self.base_url}: {error}") from None
        if response.is_error:
            raise ReviewLoopError(
                f"Label Studio at {self.base_url} answered {response.status_code} to {method} {path}: {response.text[:500]}"
            )
        return response.json()


@dataclass(frozen=True)
class ReviewRelease:
    """What the review loop needs from a published release folder."""

    folder: Path
    dataset: str
    version: str
    source: str
    source_format: str
    images_root: tuple[str, ...]
    recipe: str
    tasks: list[dict[str, Any]]
    label_config: str

    @property
    def item_ids(self) -> list[str]:
        return [task["data"][REVIEW_ITEM_KEY] for task in self.tasks]


@dataclass(frozen=True)
class PushResult:
    project_id: int
    project_url: str
    created: bool
    imported: list[str]
    already_there: list[str]

    def summary(self) -> str:
        action = "created" if self.created else "updated"
        return (
            f"project {self.project_id} {action}: {len(self.imported)} review task(s) imported, "
            f"{len(self.already_there)} already there\nreview them at {self.project_url}"
        )


@dataclass(frozen=True)
class PullResult:
    resolved: list[str]
    pending: list[str]
    export: Path | None
    next_run: dict[str, Any]
    next_run_reads: list[str]

    def summary(self) -> str:
        lines = [f"resolved {len(self.resolved)} item(s), the reviewer's annotation as the gold round: {', '.join(self.resolved) or '-'}"]
        lines.append(f"still to review: {', '.join(self.pending) or 'none'}")
        if self.export is None:
            lines.append("nothing adjudicated yet: no export written")
            return "\n".join(lines)
        lines.append(f"wrote {self.export}")
        lines.append(f"the next run reads every export in {self.next_run['source']}: {', '.join(self.next_run_reads)}")
        lines.append(f"next run: make run CONF='{json.dumps(self.next_run)}'")
        return "\n".join(lines)


def read_review_release(folder: Path) -> ReviewRelease:
    """The release at ``folder`` (a version folder or the ``current`` link) with its review tasks.

    Raises:
        ReviewLoopError: when ``folder`` is not a published release.
    """
    release_dir = ReleaseDir(Path(folder).resolve())
    wanted = [release_dir.release_json, release_dir.review_tasks, release_dir.review_label_config]
    missing = [path.relative_to(release_dir.path).as_posix() for path in wanted if not path.is_file()]
    if missing:
        raise ReviewLoopError(f"{release_dir.path} is not a release folder (no {', '.join(missing)})")
    release = json.loads(release_dir.release_json.read_text(encoding="utf-8"))
    source = release.get("source") or {}
    return ReviewRelease(
        folder=release_dir.path,
        dataset=release["dataset"],
        version=release["version"],
        source=str(source.get("source", "")),
        source_format=str(source.get("source_format", "")),
        images_root=image_roots(source.get("images_root")),
        recipe=str((release.get("recipe") or {}).get("name", "default")),
        tasks=json.loads(release_dir.review_tasks.read_text(encoding="utf-8")),
        label_config=release_dir.review_label_config.read_text(encoding="utf-8"),
    )


def project_title(release: ReviewRelease) -> str:
    """``vlforge <version> <dataset>``, cut to Label Studio's title limit: the version alone is unique."""
    return f"vlforge {release.version} {release.dataset}"[:TITLE_LIMIT]


def server_tasks(release: ReviewRelease, document_root: Path) -> list[dict[str, Any]]:
    """The review tasks with each image URL relative to Label Studio's local-files ``document_root``.

    Raises:
        ReviewLoopError: when the release's images folder is not strictly inside ``document_root``.
    """
    root = Path(document_root).resolve()
    images_storage_path(release, root)
    tasks = []
    for task in release.tasks:
        image = release.folder / local_file_path(task["data"]["image"])
        tasks.append(task | {"data": task["data"] | {"image": local_file_url(image.relative_to(root).as_posix())}})
    return tasks


def images_storage_path(release: ReviewRelease, document_root: Path) -> Path:
    """``<release>/images``, which Label Studio serves once a Local Files storage names it.

    Raises:
        ReviewLoopError: when it is not strictly inside ``document_root``.
    """
    root = Path(document_root).resolve()
    images = ReleaseDir(release.folder).images
    if not images.is_relative_to(root) or images == root:
        raise ReviewLoopError(
            f"the release's images folder {images} is not inside Label Studio's document root {root}: start Label Studio "
            "with LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT set to a folder above the release (e.g. $VLFORGE_HOME) "
            "and pass the same folder here"
        )
    return images


def push(release: ReviewRelease, server: LabelStudioServer, document_root: Path) -> PushResult:
    """Create or update the release's review project on ``server``.

    Args:
        release: the release, from ``read_review_release``.
        server: the Label Studio to push to.
        document_root: the server's ``LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT``.

    Returns:
        The project and which review items were imported now or were there already.

    Raises:
        ReviewLoopError: when the release has nothing to review, its images are outside
            ``document_root``, or the server refuses a call.
    """
    if not release.tasks:
        raise ReviewLoopError(f"release {release.dataset} {release.version} has no items in review: nothing to push")
    tasks = server_tasks(release, document_root)
    images = images_storage_path(release, document_root)
    title = project_title(release)
    project = _find_project(server, title)
    created = project is None
    if project is None:
        project = server.create_project(title, str(release.folder), release.label_config)
    else:
        server.update_label_config(project["id"], release.label_config)
    if not any(Path(storage.get("path") or "") == images for storage in server.local_storages(project["id"])):
        server.create_local_storage(project["id"], images, STORAGE_TITLE)
    present = {task["data"].get(REVIEW_ITEM_KEY) for task in server.tasks(project["id"]) if isinstance(task.get("data"), dict)}
    new = [task for task in tasks if task["data"][REVIEW_ITEM_KEY] not in present]
    if new:
        server.import_tasks(project["id"], new)
    return PushResult(
        project_id=project["id"],
        project_url=f"{server.base_url}/projects/{project['id']}/data",
        created=created,
        imported=[task["data"][REVIEW_ITEM_KEY] for task in new],
        already_there=[item for item in release.item_ids if item in present],
    )


def pull(release: ReviewRelease, server: LabelStudioServer, document_root: Path, into: Path | None = None) -> PullResult:
    """Export the adjudicated review tasks and write them where the next run reads them.

    Args:
        release: the release, from ``read_review_release``.
        server: the Label Studio the release was pushed to.
        document_root: the server's local-files document root; the next run looks images up there.
        into: the folder of Label Studio exports the next run reads; by default the release's
            source folder (the folder of its source file).

    Returns:
        The items resolved and still pending, the export written (None when nothing was
        adjudicated) and the next run's Params.

    Raises:
        ReviewLoopError: when the project does not exist, the next run's folder cannot be found,
            or the server refuses a call.
    """
    folder = Path(into) if into is not None else next_source_folder(release)
    project = _find_project(server, project_title(release))
    if project is None:
        raise ReviewLoopError(f"no project {project_title(release)!r} on the server: run `vlforge review push {release.folder}` first")
    exported = server.export_annotated(project["id"])
    wanted = set(release.item_ids)
    gold = [task for task in adjudicated(exported) if task["data"][REVIEW_ITEM_KEY] in wanted]
    resolved = sorted({task["data"][REVIEW_ITEM_KEY] for task in gold})
    pending = [item for item in release.item_ids if item not in resolved]
    roots = list(dict.fromkeys([*release.images_root, str(Path(document_root).resolve())]))
    next_run = {
        "source": str(folder.resolve()),
        "source_format": "label_studio",
        "dataset": release.dataset,
        "recipe": release.recipe,
        "images_root": roots,
    }
    if not gold:
        return PullResult(resolved, pending, None, next_run, [])
    export = folder / f"review-{release.dataset}-{release.version}.json"
    atomic_write_text(export, json.dumps(gold, indent=2, ensure_ascii=False))
    reads = sorted(path.name for path in folder.iterdir() if path.suffix in (".json", ".jsonl"))
    return PullResult(resolved, pending, export, next_run, reads)


def adjudicated(tasks: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """vlforge review tasks that hold a reviewer's annotation, each with that one annotation marked ground truth.

    The reviewer's annotation is the one marked ground truth, else the last one saved
    (``updated_at``, then ``id``); cancelled (skipped) annotations never count, and tasks
    that are not vlforge review tasks (no ``data.vlforge_item_id``) are left out.
    """
    kept = []
    for task in tasks:
        if not isinstance(task.get("data"), dict) or not isinstance(task["data"].get(REVIEW_ITEM_KEY), str):
            continue
        annotations = [item for item in task.get("annotations") or [] if not item.get("was_cancelled", False)]
        if not annotations:
            continue
        marked = [item for item in annotations if item.get("ground_truth")]
        chosen = max(marked or annotations, key=lambda item: (str(item.get("updated_at") or item.get("created_at") or ""), item.get("id", 0)))
        kept.append(task | {"annotations": [chosen | {"ground_truth": True}]})
    return kept


def next_source_folder(release: ReviewRelease) -> Path:
    """The folder of Label Studio exports the next run reads: the release's source folder, or its source file's folder.

    Raises:
        ReviewLoopError: when the release was not made from local Label Studio exports.
    """
    if release.source_format != "label_studio":
        raise ReviewLoopError(f"release {release.version} was made from {release.source_format!r}, not Label Studio exports")
    if "://" in release.source and not release.source.startswith("file://"):
        raise ReviewLoopError(f"the release's source {release.source} is not a local folder: pass --into a folder of exports")
    source = Path(release.source.removeprefix("file://"))
    return source if source.is_dir() else source.parent


def _find_project(server: LabelStudioServer, title: str) -> dict[str, Any] | None:
    matches = server.projects(title)
    if len(matches) > 1:
        ids = [project["id"] for project in matches]
        raise ReviewLoopError(f"{len(matches)} projects on the server are called {title!r} (ids {ids}): keep one")
    return matches[0] if matches else None
