"""Promotion: first releases and improvements become current, regressions are held, people can force, reruns are no-ops."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vlforge import promotion as promotion_module
from vlforge.catalog import Catalog, open_catalog
from vlforge.promotion import CatalogUnavailable, decide, promote_published, switch_current_link

TOLERANCE = {"*": 0.02}


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[Catalog]:
    with open_catalog(f"sqlite:///{tmp_path / 'catalog.sqlite'}") as opened:
        yield opened


def _release(home: Path, version: str, day: int, ocr: float, iou: float = 0.9, samples: int = 5) -> dict[str, Any]:
    """A published release as ``read_release`` gives it: ``RELEASE.json`` content with its folder."""
    folder = home / "releases" / "demo" / version
    folder.mkdir(parents=True)
    return {
        "dataset": "demo",
        "version": version,
        "content_hash": version + "0" * (64 - len(version)),
        "parent_version": None,
        "created_at": f"2026-01-{day:02d}T00:00:00+00:00",
        "counts": {
            "samples": samples,
            "by_task_type": {"grounding": samples - 1, "ocr": 1},
            "by_split": {"train": samples - 1, "val": 0, "test": 1},
            "synthetic_share": 0.0,
        },
        "metrics": {
            "iou_agreement": iou,
            "ocr_accuracy": ocr,
            "action_completeness": None,
            "bertscore_f1": None,
            "by_task_type": {"grounding": {"iou_agreement": iou}, "ocr": {"ocr_accuracy": ocr}},
        },
        "gates": [{"name": "quality", "passed": True}],
        "recipe_hash": "r" * 64,
        "seed": 0,
        "path": str(folder),
    }


def _link(home: Path) -> str:
    return os.readlink(home / "releases" / "demo" / "current")


def test_first_release_is_promoted_and_linked(catalog: Catalog, tmp_path: Path) -> None:
    decision = decide(_release(tmp_path, "aaaa00000001", 1, ocr=1.0), catalog, TOLERANCE)
    assert (decision.outcome, decision.current_version, decision.promoted_now) == ("first", "aaaa00000001", True)
    assert decision.release["status"] == "promoted" and decision.release["current"] is True
    assert _link(tmp_path) == "aaaa00000001"
    assert (tmp_path / "releases" / "demo" / "current").resolve() == tmp_path / "releases" / "demo" / "aaaa00000001"
    assert decision.message() is None  # nothing to compare with: no alert, no announcement
    extra = decision.asset_extra()
    assert extra["version"] == "aaaa00000001" and extra["content_hash"].startswith("aaaa00000001")
    assert extra["metrics"] == {"iou_agreement": 0.9, "ocr_accuracy": 1.0, "action_completeness": None, "bertscore_f1": None}


def test_regression_is_held_and_current_stays(catalog: Catalog, tmp_path: Path) -> None:
    decide(_release(tmp_path, "aaaa00000001", 1, ocr=1.0), catalog, TOLERANCE)
    decision = decide(_release(tmp_path, "bbbb00000002", 2, ocr=0.96), catalog, TOLERANCE)

    assert decision.outcome == "regression" and decision.held and not decision.promoted_now
    assert sorted(change.name for change in decision.comparison.regressions) == ["by_task_type.ocr.ocr_accuracy", "ocr_accuracy"]
    assert catalog.get_release("demo", "bbbb00000002")["status"] == "held"  # type: ignore[index]
    assert catalog.current("demo")["version"] == "aaaa00000001"  # type: ignore[index]
    assert _link(tmp_path) == "aaaa00000001"
    message = decision.message()
    assert message is not None and "HELD" in message and "current stays aaaa00000001" in message
    assert "ocr_accuracy 1.0000 -> 0.9600 (-0.0400, tolerance 0.0200)" in message


def test_a_fall_within_the_tolerance_is_promoted_quietly(catalog: Catalog, tmp_path: Path) -> None:
    decide(_release(tmp_path, "aaaa00000001", 1, ocr=1.0), catalog, TOLERANCE)
    decision = decide(_release(tmp_path, "bbbb00000002", 2, ocr=0.99), catalog, TOLERANCE)
    assert (decision.outcome, decision.current_version, decision.message()) == ("promoted", "bbbb00000002", None)
    assert _link(tmp_path) == "bbbb00000002"


def test_improvement_is_promoted_and_announced_with_the_diff(catalog: Catalog, tmp_path: Path) -> None:
    decide(_release(tmp_path, "aaaa00000001", 1, ocr=0.9), catalog, TOLERANCE)
    decision = decide(_release(tmp_path, "bbbb00000002", 2, ocr=0.97, samples=7), catalog, TOLERANCE)
    assert decision.outcome == "improved" and decision.promoted_now
    assert catalog.current("demo")["version"] == "bbbb00000002"  # type: ignore[index]
    assert _link(tmp_path) == "bbbb00000002"
    message = decision.message()
    assert message is not None and "improves on aaaa00000001" in message
    assert "ocr_accuracy 0.9000 -> 0.9700 (+0.0700" in message and "grounding 4 -> 6" in message


def test_a_held_release_is_compared_with_no_one(catalog: Catalog, tmp_path: Path) -> None:
    decide(_release(tmp_path, "aaaa00000001", 1, ocr=1.0), catalog, TOLERANCE)
    decide(_release(tmp_path, "bbbb00000002", 2, ocr=0.9), catalog, TOLERANCE)
    third = decide(_release(tmp_path, "cccc00000003", 3, ocr=0.995), catalog, TOLERANCE)
    assert third.comparison.previous_version == "aaaa00000001"  # the held one is skipped
    assert third.outcome == "promoted" and third.current_version == "cccc00000003"


def test_forced_promotion_is_recorded_with_who_and_why(catalog: Catalog, tmp_path: Path) -> None:
    decide(_release(tmp_path, "aaaa00000001", 1, ocr=1.0), catalog, TOLERANCE)
    held = _release(tmp_path, "bbbb00000002", 2, ocr=0.9)
    decide(held, catalog, TOLERANCE)
    with pytest.raises(ValueError, match="forced_by"):
        decide(held, catalog, TOLERANCE, force_promote=True, forced_by=" ")
    assert catalog.current("demo")["version"] == "aaaa00000001"  # type: ignore[index]

    decision = decide(held, catalog, TOLERANCE, force_promote=True, forced_by="alice")
    assert (decision.outcome, decision.current_version, decision.promoted_now) == ("forced", "bbbb00000002", True)
    row = catalog.get_release("demo", "bbbb00000002")
    assert row is not None and row["forced_by"] == "alice" and "ocr_accuracy" in row["force_reason"]
    assert [(item["forced_by"], item["previous_version"]) for item in row["promotions"]] == [("alice", "aaaa00000001")]
    assert _link(tmp_path) == "bbbb00000002"
    assert "promoted to current by alice despite a regression" in (decision.message() or "")


def test_rerun_changes_nothing(catalog: Catalog, tmp_path: Path) -> None:
    first = _release(tmp_path, "aaaa00000001", 1, ocr=1.0)
    second = _release(tmp_path, "bbbb00000002", 2, ocr=0.9)
    decide(first, catalog, TOLERANCE)
    held = decide(second, catalog, TOLERANCE)
    rows = catalog.list_releases("demo")

    again = decide(second, catalog, TOLERANCE)
    assert (again.outcome, again.current_version, again.promoted_now) == (held.outcome, held.current_version, False)
    assert again.message() == held.message()  # a held release is told again: it is still held
    first_again = decide(first, catalog, TOLERANCE)
    assert (first_again.outcome, first_again.promoted_now, first_again.message()) == ("first", False, None)
    assert catalog.list_releases("demo") == rows
    promotions = [catalog.get_release("demo", row["version"])["promotions"] for row in rows]  # type: ignore[index]
    assert [len(history) for history in promotions] == [1, 0]


def test_rerun_of_a_superseded_release_does_not_take_current_back(catalog: Catalog, tmp_path: Path) -> None:
    first = _release(tmp_path, "aaaa00000001", 1, ocr=1.0)
    decide(first, catalog, TOLERANCE)
    decide(_release(tmp_path, "bbbb00000002", 2, ocr=1.0), catalog, TOLERANCE)
    rerun = decide(first, catalog, TOLERANCE)
    assert (rerun.outcome, rerun.current_version, rerun.promoted_now) == ("superseded", "bbbb00000002", False)
    assert _link(tmp_path) == "bbbb00000002"


def test_current_link_is_switched_by_one_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    releases = tmp_path / "releases"
    for version in ("aaaa00000001", "bbbb00000002"):
        (releases / version).mkdir(parents=True)
    link = switch_current_link(releases, "aaaa00000001")
    assert os.readlink(link) == "aaaa00000001"  # relative: the folder can move

    def failing_replace(source: object, target: object) -> None:
        raise OSError("crash between link and rename")

    monkeypatch.setattr(promotion_module.os, "replace", failing_replace)
    with pytest.raises(OSError, match="crash"):
        switch_current_link(releases, "bbbb00000002")
    assert os.readlink(link) == "aaaa00000001"  # readers still see the whole old release
    monkeypatch.undo()

    switch_current_link(releases, "bbbb00000002")
    assert os.readlink(link) == "bbbb00000002"
    assert sorted(path.name for path in releases.iterdir()) == ["aaaa00000001", "bbbb00000002", "current"]
    with pytest.raises(FileNotFoundError):
        switch_current_link(releases, "cccc00000003")


def test_a_catalog_that_does_not_answer_leaves_the_release_marked_unpromoted_until_a_rerun(tmp_path: Path) -> None:
    first = _release(tmp_path, "aaaa00000001", 1, ocr=1.0)
    second = _release(tmp_path, "aaaa00000002", 2, ocr=1.0)
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    promote_published(first, url, TOLERANCE)
    unreachable = f"sqlite:///{tmp_path / 'releases'}"  # a folder: SQLite cannot open it

    with pytest.raises(CatalogUnavailable, match=r"demo/aaaa00000002 is published at .* but NOT promoted") as raised:
        promote_published(second, unreachable, TOLERANCE)

    marker = tmp_path / "releases" / "demo" / "aaaa00000002.unpromoted.json"
    assert str(marker) in str(raised.value) and _link(tmp_path) == "aaaa00000001"
    mark = json.loads(marker.read_text())
    assert (mark["version"], mark["catalog"]) == ("aaaa00000002", unreachable) and "unable to open database file" in mark["error"]
    assert Path(second["path"]).is_dir()
    with open_catalog(url) as catalog:
        assert catalog.get_release("demo", "aaaa00000002") is None and catalog.current("demo")["version"] == "aaaa00000001"

    decision = promote_published(second, url, TOLERANCE)

    assert (decision.outcome, decision.current_version, decision.promoted_now) == ("promoted", "aaaa00000002", True)
    assert not marker.exists() and _link(tmp_path) == "aaaa00000002"


def test_an_error_that_is_not_the_catalog_being_down_is_not_hidden(tmp_path: Path) -> None:
    release = _release(tmp_path, "aaaa00000001", 1, ocr=1.0)
    with pytest.raises(ValueError, match="lacks"):
        promote_published({**release, "content_hash": ""}, f"sqlite:///{tmp_path / 'catalog.sqlite'}", TOLERANCE)
    assert not (tmp_path / "releases" / "demo" / "aaaa00000001.unpromoted.json").exists()
