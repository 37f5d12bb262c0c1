"""Promotion: compare a published release with the last released one, record it, and move ``current`` or hold it.

``decide`` is the one entry point. It finds the previous release (the newest one
of the dataset that is not held) before recording the new one, compares them
(``vlforge.compare``), records the new release in the catalog (``vlforge.catalog``)
as ``released`` or ``held``, and promotes it to ``current`` when no metric fell by
more than its tolerance. A person may promote a held release with
``force_promote``; who did it and why are recorded in the catalog. Beside the
catalog flag, ``releases/<dataset>/current`` is a symlink to the current
version's folder, switched atomically (a new link under a temporary name renamed
over the old one), so file users see one release or the other, never neither. On an object store,
which has no links, ``current`` is an object holding the version's name, written with one PUT
(``storage.switch_current_pointer``), and only over a release whose upload has finished.

Running ``decide`` again for the same release changes nothing and gives the same
decision. ``promote_published`` is what the DAG calls: it opens the catalog and decides, and when
the catalog's database cannot be reached it leaves the published release where it is, marks it
unpromoted (``releases/<dataset>/<version>.unpromoted.json``) and raises; the task's retry or a
rerun of the DAG (which finds the release already published) promotes it and removes the mark.
A rerun of an older release that has since been superseded does not
take ``current`` back. The DAG sends
``Decision.message()`` through its notifiers and the Asset event when
``Decision.promoted_now``.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import make_url
from sqlalchemy.exc import OperationalError

from vlforge.catalog import Catalog, open_catalog
from vlforge.compare import Comparison, compare_releases
from vlforge.layout import DatasetReleases, checked_name, is_object_store
from vlforge.quality.agreement import METRICS
from vlforge.storage import remove_at, switch_current_pointer, write_text_at

log = logging.getLogger(__name__)
Outcome = Literal["first", "promoted", "improved", "regression", "forced", "superseded"]


@dataclass(frozen=True)
class Decision:
    """What ``decide`` did with one release.

    Attributes:
        outcome: ``first`` (no previous release, promoted), ``promoted`` (no change beyond the
            tolerances), ``improved`` (promoted, a metric rose by more than its tolerance),
            ``regression`` (held), ``forced`` (promoted over a regression by a person),
            ``superseded`` (a rerun of a release that a newer one has replaced as current: left as it is).
        comparison: the release against the previous one.
        release: the release's catalog row after the decision.
        current_version: the dataset's current version after the decision.
        promoted_now: whether this call switched ``current`` to the release (the Asset event's cue).
    """

    outcome: Outcome
    comparison: Comparison
    release: dict[str, Any]
    current_version: str | None
    promoted_now: bool

    @property
    def dataset(self) -> str:
        return str(self.release["dataset"])

    @property
    def version(self) -> str:
        return str(self.release["version"])

    @property
    def held(self) -> bool:
        return self.outcome == "regression"

    def message(self) -> str | None:
        """The alert or announcement for this decision, or ``None`` when there is nothing to tell.

        A regression is told every time (the release stays held); an improvement or a forced
        promotion only by the call that made it current.

        Returns:
            A first line saying what happened to which release, then ``Comparison.summary()``
            (every metric with its old and new value).
        """
        name = f"{self.dataset} {self.version}"
        current = self.current_version or "none"
        heads = {
            "regression": f"vlforge: release {name} HELD as a regression; current stays {current}.",
            "forced": f"vlforge: release {name} promoted to current by {self.release.get('forced_by')} "
            f"despite a regression ({self.release.get('force_reason')}).",
            "improved": f"vlforge: release {name} improves on {self.comparison.previous_version} and is now current.",
        }
        if self.outcome not in heads or (self.outcome != "regression" and not self.promoted_now):
            return None
        return f"{heads[self.outcome]}\n{self.comparison.summary()}"

    def asset_extra(self) -> dict[str, Any]:
        """What the Asset event carries: version, content hash, headline metrics and counts."""
        counts = self.release.get("counts") or {}
        metrics = self.release.get("metrics") or {}
        return {
            "dataset": self.dataset,
            "version": self.version,
            "content_hash": self.release["content_hash"],
            "previous_version": self.comparison.previous_version,
            "outcome": self.outcome,
            "path": self.release.get("path"),
            "metrics": {name: metrics.get(name) for name in METRICS},
            "counts": {key: counts.get(key) for key in ("samples", "by_task_type", "by_split", "synthetic_share")},
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (a task's return value)."""
        return {
            "outcome": self.outcome,
            "dataset": self.dataset,
            "version": self.version,
            "status": self.release["status"],
            "current_version": self.current_version,
            "promoted_now": self.promoted_now,
            "regressions": [change.name for change in self.comparison.regressions],
            "improvements": [change.name for change in self.comparison.improvements],
            "previous_version": self.comparison.previous_version,
        }


def decide(
    new_release: dict[str, Any],
    catalog: Catalog,
    tolerance: dict[str, float],
    force_promote: bool = False,
    forced_by: str | None = None,
    reason: str | None = None,
) -> Decision:
    """Compare, record and promote (or hold) a published release.

    Args:
        new_release: ``RELEASE.json`` content with ``path`` (``vlforge.release.read_release``).
        catalog: the release catalog.
        tolerance: the recipe's ``release.tolerance``.
        force_promote: promote even if the release regressed (it is still recorded as held first).
        forced_by: who forces it; required with ``force_promote`` when there is a regression.
        reason: why; by default a sentence naming the regressed metrics.

    Returns:
        The decision.

    Raises:
        ValueError: ``force_promote`` over a regression without ``forced_by``.
    """
    dataset, version = str(new_release["dataset"]), str(new_release["version"])
    existing = catalog.get_release(dataset, version)
    previous = _previous(catalog, dataset, version)
    comparison = compare_releases(previous, new_release, tolerance)
    # A release held by an earlier run stays held unless forced, even if the tolerances have changed since.
    needs_force = comparison.has_regressions or (existing is not None and existing["status"] == "held")
    if needs_force and force_promote and not (forced_by and forced_by.strip()):
        raise ValueError(f"force_promote of {dataset}/{version} needs the name of the person who forces it (forced_by)")
    row = catalog.record_release(new_release, status="held" if comparison.has_regressions else "released")
    previous_current = catalog.current(dataset)
    unforced: Outcome = "first" if previous is None else "improved" if comparison.improvements else "promoted"

    outcome: Outcome
    if row["status"] == "promoted":  # decided by an earlier run: keep what it did
        outcome = "superseded" if not row["current"] else "forced" if row["forced_by"] else unforced
    elif needs_force and not force_promote:
        outcome = "regression"
    elif needs_force:
        outcome = "forced"
        regressions = ", ".join(change.name for change in comparison.regressions) or "none now"
        why = reason or f"force_promote over a hold (regressions: {regressions})"
        catalog.promote(dataset, version, forced_by=forced_by, reason=why)
    else:
        outcome = unforced
        catalog.promote(dataset, version)

    current = catalog.current(dataset)
    current_version = current["version"] if current else None
    promoted_now = current_version == version and (previous_current or {}).get("version") != version
    location = str(new_release.get("path") or "")
    if location and current_version and is_object_store(location):
        switch_current_pointer(location.rstrip("/").rsplit("/", 1)[0], current_version)
    elif location and current_version:
        switch_current_link(Path(location).parent, current_version)
    release_row = catalog.get_release(dataset, version)
    assert release_row is not None, f"{dataset}/{version} vanished from the catalog"
    log.info("release %s/%s: %s (current: %s)", dataset, version, outcome, current_version)
    return Decision(outcome, comparison, release_row | {"path": new_release.get("path")}, current_version, promoted_now)


class CatalogUnavailable(RuntimeError):
    """The catalog's database could not be reached at promotion: the release is published, marked unpromoted."""


def promote_published(
    release: dict[str, Any],
    url: str,
    tolerance: dict[str, float],
    force_promote: bool = False,
    forced_by: str | None = None,
) -> Decision:
    """``decide`` on the catalog at ``url`` for a published release, or mark the release unpromoted when the catalog is down.

    Args:
        release: ``RELEASE.json`` content with ``path`` (``vlforge.release.read_release``).
        url: the catalog's SQLAlchemy URL (``vlforge.catalog.catalog_url``).
        tolerance: the recipe's ``release.tolerance``.
        force_promote: as for ``decide``.
        forced_by: as for ``decide``.

    Returns:
        The decision; the release's unpromoted mark, if an earlier try left one, is removed.

    Raises:
        CatalogUnavailable: the catalog's database did not answer. The release folder, ``LATEST`` and
            ``current`` stay as they are; ``<version>.unpromoted.json`` beside the release says why, and
            calling this again once the catalog answers promotes it.
    """
    marker = unpromoted_marker(str(release["path"]), str(release["version"]))
    try:
        with open_catalog(url) as catalog:
            decision = decide(release, catalog, tolerance, force_promote, forced_by)
    except OperationalError as error:
        where = make_url(url).render_as_string(hide_password=True)
        reason = str(error.orig or error).strip().splitlines()[0]
        record = {
            "dataset": release["dataset"],
            "version": release["version"],
            "content_hash": release["content_hash"],
            "catalog": where,
            "error": reason,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        write_text_at(marker, json.dumps(record, indent=2, sort_keys=True) + "\n")
        raise CatalogUnavailable(
            f"release {release['dataset']}/{release['version']} is published at {release['path']} but NOT promoted: "
            f"the catalog {where} did not answer ({reason}). Marked in {marker}; current is unchanged. "
            "Rerun compare_and_promote (or the DAG) once the catalog answers to record and promote it."
        ) from error
    remove_at(marker)
    return decision


def unpromoted_marker(location: str, version: str) -> Path | str:
    """Where a published release that the catalog could not promote is marked: a file beside its folder, or the
    object beside it on an object store (``location`` is the release's folder or URL)."""
    name = DatasetReleases(Path()).unpromoted(version).name
    if is_object_store(location):
        return f"{location.rstrip('/').rsplit('/', 1)[0]}/{name}"
    return Path(location).parent / name


def _previous(catalog: Catalog, dataset: str, version: str) -> dict[str, Any] | None:
    """The newest release recorded before ``version`` that is not held (all of them if it is not recorded yet)."""
    rows = catalog.list_releases(dataset)
    position = next((index for index, row in enumerate(rows) if row["version"] == version), len(rows))
    return next((row for row in reversed(rows[:position]) if row["status"] != "held"), None)


def switch_current_link(releases: Path, version: str) -> Path:
    """Point ``releases/current`` at ``version``'s folder atomically.

    A relative symlink is made under a temporary name and renamed over ``current``
    (``os.replace`` is atomic on POSIX), so readers always find a whole release.

    Args:
        releases: ``releases/<dataset>``.
        version: a version folder inside it.

    Returns:
        The link.

    Raises:
        FileNotFoundError: when the version's folder is not there.
    """
    checked_name("version", version)
    if not (releases / version).is_dir():
        raise FileNotFoundError(f"no release folder {releases / version} to make current")
    link = DatasetReleases(releases).current
    if link.is_symlink() and os.readlink(link) == version:
        return link
    temporary = releases / f".{link.name}.{uuid.uuid4().hex}"
    os.symlink(version, temporary, target_is_directory=True)
    try:
        os.replace(temporary, link)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return link
