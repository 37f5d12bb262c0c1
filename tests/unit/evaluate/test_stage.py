"""Which release a run evaluates: the Params, else the newest release asset event; a missing one is named."""

from __future__ import annotations

from pathlib import Path

import pytest

from vlforge.evaluate.stage import prepare_evaluation, release_to_evaluate


def test_params_win_then_the_newest_event_names_the_release() -> None:
    events = [{"dataset": "shop", "version": "v1"}, {"dataset": "shop", "version": "v2"}]
    assert release_to_evaluate("demo", "current", events) == ("demo", "current")
    assert release_to_evaluate("", "current", events) == ("shop", "v2")
    with pytest.raises(ValueError, match="no dataset in the Params and no release asset event naming one"):
        release_to_evaluate("", "current", [{"outcome": "held"}])


def test_a_missing_release_lists_the_released_versions(tmp_path: Path) -> None:
    (tmp_path / "releases" / "shop" / "abc123").mkdir(parents=True)
    (tmp_path / "releases" / "shop" / "abc123" / "RELEASE.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match=r"no release 'nope' to evaluate; released versions: \['abc123'\]"):
        prepare_evaluation(tmp_path, "shop", "nope", "run1")
    with pytest.raises(FileNotFoundError, match=r"no release 'current' to evaluate"):
        prepare_evaluation(tmp_path, "shop", "", "run1")
