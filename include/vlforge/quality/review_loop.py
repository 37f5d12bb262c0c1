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
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlforge.ingest import image_roots
from vlforge.ingest.label_studio import REVIEW_ITEM_KEY
from vlforge.quality.review import CONFIG_FILE, TASKS_FILE, local_file_path, local_file_url
from vlforge.quality.stage import REVIEW_DIR
from vlforge.store import atomic_write_text

STORAGE_TITLE = "vlforge release images"
TITLE_LIMIT = 50  # Label Studio's maximum project title length


class ReviewLoopError(Exception):
    """The release, the document root or the server cannot do what was asked; the message says why."""


@dataclass(frozen=True)
class ReviewRelease:
    """What the review loop needs from a published release folder."""

    folder: Path
    dataset: str
    version: str
    source: str
    source_format: str
    images_root: tuple[str, ...]
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
    folder = Path(folder).resolve()
    manifest = folder / "RELEASE.json"
    tasks_file = folder / REVIEW_DIR / TASKS_FILE
    if not manifest.is_file() or not tasks_file.is_file():
        raise ReviewLoopError(f"{folder} is not a release folder (no RELEASE.json or {REVIEW_DIR}/{TASKS_FILE})")
    release = json.loads(manifest.read_text(encoding="utf-8"))
    source = release.get("source") or {}
    return ReviewRelease(
        folder=folder,
        dataset=release["dataset"],
        version=release["version"],
        source=str(source.get("source", "")),
        source_format=str(source.get("source_format", "")),
        images_root=image_roots(source.get("images_root")),
        tasks=json.loads(tasks_file.read_text(encoding="utf-8")),
        label_config=(folder / REVIEW_DIR / CONFIG_FILE).read_text(encoding="utf-8"),
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
    images = release.folder / "images"
    if not images.is_relative_to(root) or images == root:
        raise ReviewLoopError(
            f"the release's images folder {images} is not inside Label Studio's document root {root}: start Label Studio "
            "with LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT set to a folder above the release (e.g. $VLFORGE_HOME) "
            "and pass the same folder here"
        )
    return images


def push(release: ReviewRelease, client: Any, base_url: str, document_root: Path) -> PushResult:  # noqa: ANN401 - LabelStudio
    """Create or update the release's review project on the server ``client`` talks to.

    Args:
        release: the release, from ``read_review_release``.
        client: a ``label_studio_sdk.LabelStudio`` client.
        base_url: the server's URL, for the link to the project.
        document_root: the server's ``LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT``.

    Returns:
        The project and which review items were imported now or were there already.

    Raises:
        ReviewLoopError: when the release has nothing to review, or its images are outside ``document_root``.
    """
    if not release.tasks:
        raise ReviewLoopError(f"release {release.dataset} {release.version} has no items in review: nothing to push")
    tasks = server_tasks(release, document_root)
    images = images_storage_path(release, document_root)
    title = project_title(release)
    project = _find_project(client, title)
    created = project is None
    if project is None:
        project = client.projects.create(title=title, description=str(release.folder), label_config=release.label_config)
    else:
        client.projects.update(project.id, label_config=release.label_config)
    if not any(Path(storage.path or "") == images for storage in client.import_storage.local.list(project=project.id)):
        client.import_storage.local.create(project=project.id, path=str(images), use_blob_urls=True, title=STORAGE_TITLE)
    present = {
        task.data.get(REVIEW_ITEM_KEY) for task in client.tasks.list(project=project.id, fields="all") if isinstance(task.data, dict)
    }
    new = [task for task in tasks if task["data"][REVIEW_ITEM_KEY] not in present]
    if new:
        client.projects.import_tasks(project.id, request=new, return_task_ids=True)
    return PushResult(
        project_id=project.id,
        project_url=f"{base_url.rstrip('/')}/projects/{project.id}/data",
        created=created,
        imported=[task["data"][REVIEW_ITEM_KEY] for task in new],
        already_there=[item for item in release.item_ids if item in present],
    )


def pull(release: ReviewRelease, client: Any, document_root: Path, into: Path | None = None) -> PullResult:  # noqa: ANN401
    """Export the adjudicated review tasks and write them where the next run reads them.

    Args:
        release: the release, from ``read_review_release``.
        client: a ``label_studio_sdk.LabelStudio`` client.
        document_root: the server's local-files document root; the next run looks images up there.
        into: the folder of Label Studio exports the next run reads; by default the release's
            source folder (the folder of its source file).

    Returns:
        The items resolved and still pending, the export written (None when nothing was
        adjudicated) and the next run's Params.

    Raises:
        ReviewLoopError: when the project does not exist or the next run's folder cannot be found.
    """
    folder = Path(into) if into is not None else next_source_folder(release)
    project = _find_project(client, project_title(release))
    if project is None:
        raise ReviewLoopError(f"no project {project_title(release)!r} on the server: run `vlforge review push {release.folder}` first")
    exported = json.loads(b"".join(client.projects.exports.download_sync(project.id, export_type="JSON", download_all_tasks=False)))
    wanted = set(release.item_ids)
    gold = [task for task in adjudicated(exported) if task["data"][REVIEW_ITEM_KEY] in wanted]
    resolved = sorted({task["data"][REVIEW_ITEM_KEY] for task in gold})
    pending = [item for item in release.item_ids if item not in resolved]
    roots = list(dict.fromkeys([*release.images_root, str(Path(document_root).resolve())]))
    next_run = {"source": str(folder.resolve()), "source_format": "label_studio", "dataset": release.dataset, "images_root": roots}
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


def connect(base_url: str, api_key: str) -> Any:  # noqa: ANN401 - label_studio_sdk.LabelStudio
    """A Label Studio client; the SDK is imported only here, for the review commands."""
    from label_studio_sdk import LabelStudio

    return LabelStudio(base_url=base_url, api_key=api_key)


@contextmanager
def server_errors(base_url: str) -> Iterator[None]:
    """Turn the SDK's HTTP and connection errors into a ``ReviewLoopError`` that names the server and its answer."""
    import httpx
    from label_studio_sdk.core.api_error import ApiError

    try:
        yield
    except ApiError as error:
        raise ReviewLoopError(f"Label Studio at {base_url} answered {error.status_code}: {error.body}") from None
    except httpx.HTTPError as error:
        raise ReviewLoopError(f"cannot reach Label Studio at {base_url}: {error}") from None


def _find_project(client: Any, title: str) -> Any | None:  # noqa: ANN401 - SDK models
    matches = [project for project in client.projects.list(title=title) if project.title == title]
    if len(matches) > 1:
        raise ReviewLoopError(f"{len(matches)} projects on the server are called {title!r} (ids {[p.id for p in matches]}): keep one")
    return matches[0] if matches else None
