"""The release catalog on SQLite: recording, idempotence, promotion, the one current release, and the CLI.

Every test that takes ``catalog_url`` also runs against PostgreSQL in
``tests/integration/test_catalog_postgres.py``, which overrides that fixture.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, true, update
from sqlalchemy.exc import IntegrityError, OperationalError

from vlforge import catalog as catalog_module
from vlforge.catalog import METRIC_COLUMNS, Catalog, PromotionRefused, open_catalog, releases
from vlforge.cli import main

METRICS = {"iou_agreement": 0.91, "ocr_accuracy": 0.97, "action_completeness": 1.0, "bertscore_f1": 0.88}


@pytest.fixture
def catalog_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'catalog.sqlite'}"


@pytest.fixture
def catalog(catalog_url: str) -> Iterator[Catalog]:
    with open_catalog(catalog_url) as opened:
        yield opened


def release(version: str, day: int = 1, dataset: str = "demo", **changes: Any) -> dict[str, Any]:
    """A ``RELEASE.json`` as ``publish_release`` writes it, plus dataset metric means."""
    content = {
        "dataset": dataset,
        "version": version,
        "content_hash": version * 2,
        "parent_version": None,
        "created_at": f"2026-11-{day:02d}T10:00:00+00:00",
        "counts": {
            "rows_in": 20,
            "rows_ok": 18,
            "rows_quarantined": 2,
            "quarantine_share": 0.1,
            "by_task_type": {"caption": 10, "grounding": 8},
            "by_split": {"train": 16, "val": 2},
            "synthetic": 9,
            "images": 6,
        },
        "metrics": dict(METRICS),
        "gates": [{"name": "ingest", "passed": True, "failed": []}, {"name": "quality", "passed": True, "failed": []}],
        "recipe_hash": "r" * 64,
        "seed": 7,
        "path": f"/data/releases/{dataset}/{version}",
    }
    return content | changes


def currents(catalog: Catalog, dataset: str = "demo") -> list[str]:
    """Versions flagged current, read straight from the table."""
    with catalog.engine.connect() as connection:
        query = select(releases.c.version).where(releases.c.dataset == dataset, releases.c.is_current == true())
        return list(connection.execute(query).scalars())


def test_record_release_keeps_every_field(catalog: Catalog) -> None:
    row = catalog.record_release(release("aaa111", parent_version="zzz000"))
    assert row["dataset"] == "demo" and row["version"] == "aaa111"
    assert row["content_hash"] == "aaa111aaa111"
    assert row["parent_version"] == "zzz000"
    assert row["status"] == "released" and row["current"] is False
    assert row["counts"]["by_task_type"] == {"caption": 10, "grounding": 8}
    assert row["counts"]["by_split"] == {"train": 16, "val": 2}
    assert row["counts"]["quarantine_share"] == 0.1
    assert row["samples"] == 18
    assert row["synthetic_share"] == pytest.approx(0.5)
    assert row["metrics"] == METRICS
    assert {name: row[name] for name in METRIC_COLUMNS} == METRICS
    assert [gate["name"] for gate in row["gates"]] == ["ingest", "quality"]
    assert row["recipe_hash"] == "r" * 64 and row["seed"] == 7
    assert row["created_at"] == "2026-11-01T10:00:00+00:00"
    assert row["recorded_at"].endswith("+00:00")
    assert row["path"] == "/data/releases/demo/aaa111"
    assert catalog.get_release("demo", "aaa111") == row


def test_created_at_is_stored_in_utc(catalog: Catalog) -> None:
    row = catalog.record_release(release("aaa111", created_at="2026-11-01T12:00:00+02:00"))
    assert row["created_at"] == "2026-11-01T10:00:00+00:00"


def test_unmeasured_metric_is_null_not_nan(catalog: Catalog) -> None:
    row = catalog.record_release(release("aaa111", metrics=METRICS | {"ocr_accuracy": math.nan}))
    assert row["ocr_accuracy"] is None
    assert row["metrics"]["ocr_accuracy"] is None
    assert row["bertscore_f1"] == 0.88


def test_recording_again_is_idempotent(catalog: Catalog) -> None:
    first = catalog.record_release(release("aaa111"))
    again = catalog.record_release(release("aaa111"), status="held")
    assert again == first  # the first row stays as it was, status included
    assert [row["version"] for row in catalog.list_releases("demo")] == ["aaa111"]


def test_same_version_with_other_content_is_refused(catalog: Catalog) -> None:
    catalog.record_release(release("aaa111"))
    with pytest.raises(ValueError, match="content hash aaa111aaa111"):
        catalog.record_release(release("aaa111", content_hash="other"))


def test_record_refuses_an_unknown_status_and_a_dict_without_version(catalog: Catalog) -> None:
    with pytest.raises(ValueError, match="'promoted'"):
        catalog.record_release(release("aaa111"), status="promoted")
    with pytest.raises(ValueError, match="version"):
        catalog.record_release({"dataset": "demo", "content_hash": "x"})
    assert catalog.list_releases() == []


def test_promote_switches_current_and_keeps_one_per_dataset(catalog: Catalog) -> None:
    for day, version in enumerate(("aaa111", "bbb222", "ccc333"), start=1):
        catalog.record_release(release(version, day))
    catalog.record_release(release("other1", dataset="other"))
    assert catalog.current("demo") is None
    catalog.promote("other", "other1")

    first = catalog.promote("demo", "aaa111")
    assert first["current"] is True and first["status"] == "promoted"
    assert first["promoted_at"] is not None and first["forced_by"] is None
    second = catalog.promote("demo", "ccc333")
    assert second["current"] is True
    assert catalog.current("demo")["version"] == "ccc333"  # type: ignore[index]
    assert currents(catalog) == ["ccc333"]
    assert catalog.get_release("demo", "aaa111")["current"] is False  # type: ignore[index]
    assert catalog.get_release("demo", "aaa111")["status"] == "promoted"  # type: ignore[index]
    assert catalog.get_release("demo", "bbb222")["status"] == "released"  # type: ignore[index]
    assert second["promotions"][0]["previous_version"] == "aaa111"
    assert currents(catalog, "other") == ["other1"]  # another dataset's current is untouched


def test_promoting_the_current_release_again_changes_nothing(catalog: Catalog) -> None:
    catalog.record_release(release("aaa111"))
    first = catalog.promote("demo", "aaa111")
    again = catalog.promote("demo", "aaa111")
    assert again == first
    assert len(again["promotions"]) == 1


def test_a_failed_promotion_leaves_the_previous_current(catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    catalog.record_release(release("aaa111", 1))
    catalog.record_release(release("bbb222", 2))
    catalog.promote("demo", "aaa111")
    switch = catalog_module._switch_current

    def switch_then_fail(*args: Any, **kwargs: Any) -> None:
        switch(*args, **kwargs)  # the flag is already cleared and set inside the transaction
        raise RuntimeError("worker died mid-promotion")

    monkeypatch.setattr(catalog_module, "_switch_current", switch_then_fail)
    with pytest.raises(RuntimeError, match="mid-promotion"):
        catalog.promote("demo", "bbb222")
    assert currents(catalog) == ["aaa111"]
    assert catalog.get_release("demo", "bbb222")["status"] == "released"  # type: ignore[index]
    assert len(catalog.get_release("demo", "aaa111")["promotions"]) == 1  # type: ignore[index]


def test_the_database_refuses_a_second_current_row(catalog: Catalog) -> None:
    catalog.record_release(release("aaa111", 1))
    catalog.record_release(release("bbb222", 2))
    catalog.promote("demo", "aaa111")
    with pytest.raises(IntegrityError), catalog.engine.begin() as connection:
        connection.execute(update(releases).where(releases.c.version == "bbb222").values(is_current=True))
    assert currents(catalog) == ["aaa111"]


def test_concurrent_promotions_leave_exactly_one_current(catalog: Catalog, catalog_url: str) -> None:
    versions = [f"v{index:05d}" for index in range(4)]
    for day, version in enumerate(versions, start=1):
        catalog.record_release(release(version, day))
    errors: list[BaseException] = []
    start = threading.Barrier(len(versions))

    def worker(version: str) -> None:
        try:
            with open_catalog(catalog_url) as own:  # one engine per worker, as separate processes would have
                start.wait()
                for _ in range(5):
                    own.promote("demo", version)
                    own.promote("demo", versions[0])
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(version,)) for version in versions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert len(currents(catalog)) == 1
    with catalog.engine.connect() as connection:
        logged = connection.execute(select(func.count()).select_from(catalog_module.promotions)).scalar_one()
    assert logged >= len(versions)  # every switch was logged; promoting the current one again logs nothing


def test_a_held_release_needs_who_and_why(catalog: Catalog) -> None:
    catalog.record_release(release("aaa111", 1))
    catalog.promote("demo", "aaa111")
    held = catalog.record_release(release("bbb222", 2), status="held")
    assert held["status"] == "held"
    with pytest.raises(PromotionRefused, match="held"):
        catalog.promote("demo", "bbb222")
    with pytest.raises(PromotionRefused, match="reason"):
        catalog.promote("demo", "bbb222", forced_by="alice")
    assert currents(catalog) == ["aaa111"]

    forced = catalog.promote("demo", "bbb222", forced_by="alice", reason="bertscore drop is a known relabel")
    assert forced["current"] is True and forced["status"] == "promoted"
    assert (forced["forced_by"], forced["force_reason"]) == ("alice", "bertscore drop is a known relabel")
    assert forced["promotions"] == [
        {
            "promoted_at": forced["promoted_at"],
            "previous_version": "aaa111",
            "forced_by": "alice",
            "reason": "bertscore drop is a known relabel",
        }
    ]
    assert currents(catalog) == ["bbb222"]


def test_forced_promotion_stays_on_record_after_it_is_superseded(catalog: Catalog) -> None:
    catalog.record_release(release("aaa111", 1), status="held")
    catalog.record_release(release("bbb222", 2))
    catalog.promote("demo", "aaa111", forced_by="bob", reason="hotfix")
    catalog.promote("demo", "bbb222")
    first = catalog.get_release("demo", "aaa111")
    assert first is not None and first["current"] is False
    assert [(item["forced_by"], item["reason"]) for item in first["promotions"]] == [("bob", "hotfix")]


def test_promoting_an_unknown_release_names_the_known_ones(catalog: Catalog) -> None:
    catalog.record_release(release("aaa111"))
    with pytest.raises(KeyError, match="aaa111"):
        catalog.promote("demo", "nope00")
    assert catalog.get_release("demo", "nope00") is None


def test_latest_released_is_the_newest_not_held(catalog: Catalog) -> None:
    assert catalog.latest_released("demo") is None
    catalog.record_release(release("bbb222", 2))
    catalog.record_release(release("aaa111", 1))
    catalog.record_release(release("ccc333", 3), status="held")
    catalog.record_release(release("other1", 9, dataset="other"))
    assert catalog.latest_released("demo")["version"] == "bbb222"  # type: ignore[index]
    catalog.promote("demo", "aaa111")
    assert catalog.latest_released("demo")["version"] == "bbb222"  # type: ignore[index]


def test_list_releases_orders_by_dataset_then_creation(catalog: Catalog) -> None:
    catalog.record_release(release("bbb222", 2))
    catalog.record_release(release("other1", 1, dataset="other"))
    catalog.record_release(release("aaa111", 1))
    assert [(row["dataset"], row["version"]) for row in catalog.list_releases()] == [
        ("demo", "aaa111"),
        ("demo", "bbb222"),
        ("other", "other1"),
    ]
    assert [row["version"] for row in catalog.list_releases("other")] == ["other1"]
    assert catalog.list_releases("missing") == []


def test_reopening_keeps_the_rows(catalog: Catalog, catalog_url: str) -> None:
    catalog.record_release(release("aaa111"))
    catalog.promote("demo", "aaa111")
    with open_catalog(catalog_url) as reopened:
        assert reopened.current("demo")["version"] == "aaa111"  # type: ignore[index]


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def two_releases(catalog: Catalog) -> Catalog:
    catalog.record_release(release("aaa111", 1))
    catalog.record_release(
        release("bbb222", 2, parent_version="aaa111", metrics=METRICS | {"bertscore_f1": 0.80, "ocr_accuracy": 0.99}),
        status="held",
    )
    catalog.promote("demo", "aaa111")
    return catalog


def test_cli_list(two_releases: Catalog, catalog_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, "releases", "list", "--catalog", catalog_url)
    assert code == 0
    header, first, second = out.splitlines()
    assert header.split() == [
        "DATASET", "VERSION", "STATUS", "CURRENT", "CREATED", "SAMPLES", "SYNTHETIC", "IOU", "OCR", "ACTIONS", "BERTSCORE_F1"
    ]
    assert first.split() == [
        "demo", "aaa111", "promoted", "*", "2026-11-01T10:00:00+00:00", "18", "50.0%", "0.9100", "0.9700", "1.0000", "0.8800"
    ]
    assert second.split()[:3] == ["demo", "bbb222", "held"]
    code, out, _ = _cli(capsys, "releases", "list", "--dataset", "demo", "--json", "--catalog", catalog_url)
    assert [(row["version"], row["current"]) for row in json.loads(out)] == [("aaa111", True), ("bbb222", False)]
    code, out, _ = _cli(capsys, "releases", "list", "--dataset", "nothing", "--catalog", catalog_url)
    assert out.strip() == "no releases in the catalog"


def test_cli_show(two_releases: Catalog, catalog_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, "releases", "show", "demo", "aaa111", "--catalog", catalog_url)
    assert code == 0
    assert out.splitlines()[0] == "demo aaa111  (promoted, current)"
    assert "by task type:   caption 10, grounding 8" in out
    assert "by split:       train 16, val 2" in out
    assert ["bertscore_f1", "0.8800"] in [line.split() for line in out.splitlines()]
    assert "quality  passed" in out
    assert "promoted " in out and "(previous: -)" in out
    code, out, _ = _cli(capsys, "releases", "show", "demo", "bbb222", "--json", "--catalog", catalog_url)
    shown = json.loads(out)
    assert (shown["status"], shown["parent_version"], shown["bertscore_f1"]) == ("held", "aaa111", 0.80)
    code, out, err = _cli(capsys, "releases", "show", "demo", "zzz999", "--catalog", catalog_url)
    assert code == 1 and out == "" and "demo/zzz999" in err


def test_cli_diff(two_releases: Catalog, catalog_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(
        capsys, "releases", "diff", "demo", "aaa111", "bbb222", "--tolerance", "bertscore_f1=0.05", "--catalog", catalog_url
    )
    assert code == 0
    assert out.splitlines()[0] == "demo bbb222 vs aaa111: 1 regression(s)."
    assert "REGRESSION bertscore_f1 0.8800 -> 0.8000 (-0.0800, tolerance 0.0500)" in out
    assert "improved   ocr_accuracy 0.9700 -> 0.9900" in out
    assert any(line.split() == ["caption", "10", "10", "+0"] for line in out.splitlines())
    code, out, _ = _cli(capsys, "releases", "diff", "demo", "aaa111", "bbb222", "--json", "--catalog", catalog_url)
    payload = json.loads(out)
    assert payload["regressions"] == ["bertscore_f1"]  # no tolerance given: any fall is a regression
    assert payload["metrics"]["ocr_accuracy"]["improved"] is True
    code, _, err = _cli(capsys, "releases", "diff", "demo", "aaa111", "bbb222", "--tolerance", "oops", "--catalog", catalog_url)
    assert code == 2 and "METRIC=VALUE" in err
    code, _, err = _cli(capsys, "releases", "diff", "demo", "aaa111", "nope00", "--catalog", catalog_url)
    assert code == 1 and "demo/nope00" in err


def test_default_catalog_is_sqlite_under_vlforge_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLFORGE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("VLFORGE_CATALOG_URL", raising=False)
    with open_catalog() as default:
        default.record_release(release("aaa111"))
        assert default.engine.url.database == str(tmp_path / "home" / "catalog.sqlite")
    assert (tmp_path / "home" / "catalog.sqlite").is_file()
    with open_catalog(f"sqlite:///{tmp_path / 'home' / 'catalog.sqlite'}") as same:
        assert [row["version"] for row in same.list_releases()] == ["aaa111"]


def test_metric_columns_are_the_agreement_metrics() -> None:
    from vlforge.quality.agreement import METRICS as AGREEMENT_METRICS

    assert METRIC_COLUMNS == AGREEMENT_METRICS


def test_a_read_only_sqlite_catalog_can_be_read(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite"
    with open_catalog(f"sqlite:///{path}") as writable:
        writable.record_release(release("aaa111"))
        writable.promote("demo", "aaa111")
    with open_catalog(f"sqlite:///file:{path}?mode=ro&uri=true") as read_only:
        assert read_only.current("demo")["version"] == "aaa111"  # type: ignore[index]
        assert [row["version"] for row in read_only.list_releases()] == ["aaa111"]
        with pytest.raises(OperationalError, match="readonly"):
            read_only.record_release(release("bbb222"))
