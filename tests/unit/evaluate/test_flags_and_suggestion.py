"""Copies against their own parents, the flags beyond tolerance, and the recipe suggestion they write as a diff."""

from __future__ import annotations

from pathlib import Path

import pytest

from vlforge.evaluate.flags import AUGMENT_OPS, SYNTH_DEGRADE_OPS, compare_copies, subset_means
from vlforge.evaluate.origins import Origin
from vlforge.evaluate.suggest import recipe_yaml, suggest

ORIGINS = {
    "p1": Origin("real", None, (), None),
    "p2": Origin("real", None, (), None),
    "c1": Origin("augmented", "p1", ("random_erasing", "jpeg"), None),
    "c2": Origin("augmented", "p2", ("random_erasing",), None),
    "clean": Origin("synthetic", None, (), "documents"),
    "dirty": Origin("synthetic", "clean", ("warp",), "documents"),
}
VALUES = {"p1": 1.0, "p2": 0.8, "c1": 0.2, "c2": 0.8, "clean": 0.9, "dirty": 0.85}


def test_each_op_compared_with_its_own_parents() -> None:
    found = compare_copies(VALUES, ORIGINS, evaluator="ocr_readability", model="tesseract", metric="ocr_word_f1", tolerance=0.1)
    rows = {row.subset: (row.value, row.count) for row in found.rows}
    assert rows["op=random_erasing"] == pytest.approx((0.5, 2))
    assert rows["op=random_erasing/parents"] == pytest.approx((0.9, 2))
    assert rows["op=jpeg"] == pytest.approx((0.2, 1))
    assert rows["op=jpeg/parents"] == pytest.approx((1.0, 1))
    assert rows["generator=documents/op=warp"] == pytest.approx((0.85, 1))
    assert rows["generator=documents"] == pytest.approx((0.85, 1)) and rows["generator=documents/parents"] == pytest.approx((0.9, 1))
    flagged = {(flag.section, flag.op): flag for flag in found.flags}
    assert set(flagged) == {(AUGMENT_OPS, "random_erasing"), (AUGMENT_OPS, "jpeg")}  # warp lost 0.05 <= 0.1
    assert flagged[(AUGMENT_OPS, "random_erasing")].drop == pytest.approx(0.4)
    assert flagged[(AUGMENT_OPS, "random_erasing")].examples[0]["sample_id"] == "c1"  # the worst pair first


def test_no_tolerance_judges_nothing_and_min_pairs_holds_flags() -> None:
    assert compare_copies(VALUES, ORIGINS, evaluator="e", model="m", metric="x", tolerance=None).flags == []
    found = compare_copies(VALUES, ORIGINS, evaluator="e", model="m", metric="x", tolerance=0.0, min_pairs=2)
    assert [flag.op for flag in found.flags] == ["random_erasing"]
    strict = compare_copies(VALUES, ORIGINS, evaluator="e", model="m", metric="x", tolerance=0.01).flags
    generator = [flag for flag in strict if flag.generator == "documents"]
    assert [(flag.op, flag.section) for flag in generator] == [(None, None), ("warp", SYNTH_DEGRADE_OPS)]
    assert generator[0].describe().startswith("generator documents: copies lose 0.050 of x")


def test_subset_means_by_origin_and_level() -> None:
    rows = {row.subset: row.value for row in subset_means(VALUES, ORIGINS, evaluator="e", model="m", metric="x")}
    assert rows["origin=augmented"] == pytest.approx(0.5)
    assert rows["level=2"] == pytest.approx(0.2)
    assert rows["level=0"] == pytest.approx((1.0 + 0.8 + 0.9) / 3)


RECIPE = """\
# my recipe
augment:
  ops:
    - random_erasing: {probability: 0.6}   # keep this comment
    - jpeg: {probability: 0.3}
"""


def test_suggestion_halves_the_flagged_op_and_keeps_the_rest() -> None:
    found = compare_copies(VALUES, ORIGINS, evaluator="alignment", model="clip", metric="recall@5", tolerance=0.1)
    suggestion = suggest(RECIPE, "my.yaml", [flag for flag in found.flags if flag.op == "random_erasing"], {})
    assert [(change.op, change.old, change.new) for change in suggestion.changes] == [("random_erasing", 0.6, 0.3)]
    assert "-    - random_erasing: {probability: 0.6}   # keep this comment\n" in suggestion.diff
    assert "+    - random_erasing: {probability: 0.3}   # keep this comment\n" in suggestion.diff
    assert "jpeg" not in "".join(line for line in suggestion.diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---"))
    text = suggestion.text("main")
    assert text.startswith("# random_erasing 0.6 -> 0.3 in phase main: copies lose 0.400 of recall@5 against their parents")


def test_suggestion_writes_out_the_default_list_when_the_recipe_has_none() -> None:
    found = compare_copies(VALUES, ORIGINS, evaluator="e", model="m", metric="x", tolerance=0.1)
    frozen = {"augment": {"ops": [{"rotate": {"probability": 0.2}}, {"jpeg": {"probability": 0.3}}]}}
    suggestion = suggest("name: mine\n", "mine.yaml", [flag for flag in found.flags if flag.op == "jpeg"], frozen)
    assert "+augment:\n+  ops:\n+    - rotate: {probability: 0.2}\n+    - jpeg: {probability: 0.15}\n" in suggestion.diff


def test_nothing_flagged_suggests_nothing() -> None:
    assert suggest(RECIPE, "my.yaml", [], {}).text("main") == ""


def test_a_frozen_recipe_dumped_as_yaml_diffs_only_the_changed_line() -> None:
    from vlforge.config import Recipe

    frozen = Recipe(name="shop").model_dump(mode="json")
    found = compare_copies(VALUES, ORIGINS, evaluator="e", model="m", metric="x", tolerance=0.1)
    diff = suggest(recipe_yaml(frozen), "shop.yaml", [flag for flag in found.flags if flag.op == "jpeg"], frozen).diff
    changed = [line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert changed == ["-        probability: 0.3", "+        probability: 0.15"]


def test_quotes_and_long_lines_are_kept_and_the_diff_applies_with_patch(tmp_path: Path) -> None:
    import subprocess

    text = RECIPE.replace("{probability: 0.6}", "{probability: 0.6, scale_range: [0.02, 0.33], ratio_range: [0.3, 3.3], fill: 0}")
    text += "evaluate:\n  clip_model_path: '/models/clip'\n"
    recipe = tmp_path / "mine.yaml"
    recipe.write_text(text, encoding="utf-8")
    found = compare_copies(VALUES, ORIGINS, evaluator="e", model="m", metric="x", tolerance=0.1)
    suggestion = suggest(text, str(recipe), [flag for flag in found.flags if flag.op == "random_erasing"], {})
    changed = [line for line in suggestion.diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert changed == [
        "-    - random_erasing: {probability: 0.6, scale_range: [0.02, 0.33], ratio_range: [0.3, 3.3], fill: 0}   # keep this comment",
        "+    - random_erasing: {probability: 0.3, scale_range: [0.02, 0.33], ratio_range: [0.3, 3.3], fill: 0}   # keep this comment",
    ]
    subprocess.run(["patch", "-p0", "-s"], input=suggestion.text("main"), text=True, check=True, cwd="/")
    assert "probability: 0.3" in recipe.read_text() and "'/models/clip'" in recipe.read_text()
