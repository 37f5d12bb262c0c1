"""Agreement between rounds decides what is released, what goes to review, and what gold resolves."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pyarrow as pa
import pytest

from vlforge.config import Recipe
from vlforge.ingest import ingest_source
from vlforge.layout import REVIEW_TASKS_NAME, RunDir
from vlforge.manifest import write_manifest
from vlforge.quality.agreement import item_key, item_keys, measure_agreement
from vlforge.quality.config import EncoderThresholds, TextEncoderConfig
from vlforge.quality.review import review_task, write_review
from vlforge.quality.stage import run_agreement
from vlforge.records import Box, ImageRef, OcrLine, Sample, Source, Turn
from vlforge.store import ImageStore

IMAGE = ImageRef(sha256="a" * 64, width=200, height=100, format="jpg")


class WordOverlapScorer:
    """A transparent stand-in for BERTScore in routing tests: F1 of shared words, whatever the encoder."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], list[str]]] = []
        self.encoders: list[str] = []

    def score(self, encoder: TextEncoderConfig, candidates: list[str], references: list[str]) -> list[tuple[float, float, float]]:
        self.calls.append((candidates, references))
        self.encoders.append(encoder.name)
        scores = []
        for candidate, reference in zip(candidates, references, strict=True):
            candidate_words, reference_words = set(candidate.split()), set(reference.split())
            shared = len(candidate_words & reference_words)
            precision, recall = shared / len(candidate_words), shared / len(reference_words)
            f1 = 2 * precision * recall / (precision + recall) if shared else 0.0
            scores.append((precision, recall, f1))
        return scores


def _round(item: str, round_: int, **fields: object) -> Sample:
    source = Source(file="export.json", record_id=f"{item}/{round_}")
    return Sample(
        **{"images": (IMAGE,)} | fields, sample_id=f"{item}-{round_}", item_id=item, round=round_, source=source, annotator=f"a{round_}"
    )


def _boxes(dx: float = 0.0) -> tuple[Box, ...]:
    return (Box(x1=10 + dx, y1=10, x2=60 + dx, y2=60, label="cup"), Box(x1=100, y1=20, x2=180, y2=90, label="laptop"))


def _caption(text: str) -> tuple[Turn, ...]:
    return (Turn(role="user", content="<image>\nDescribe this image."), Turn(role="assistant", content=text))


def test_agreeing_rounds_release_round_one_with_metrics(recipe: Recipe) -> None:
    rounds = [_round("i1", 1, task_type="grounding", boxes=_boxes()), _round("i1", 2, task_type="grounding", boxes=_boxes(1))]
    result = measure_agreement(rounds, recipe.quality, WordOverlapScorer())
    (released,) = result.released
    assert released.sample_id == "i1-1"
    # cup: overlap 49x50 over 2*2500 - 2450 = 2550; laptop identical.
    assert released.metrics.iou_agreement == pytest.approx((2450 / 2550 + 1.0) / 2)
    assert released.metrics.rounds_compared == 2
    assert result.stats() == {
        "items_released": 1,
        "items_in_review": 0,
        "rounds_superseded": 1,
        "rounds_in_review": 0,
        "items_resolved_by_gold": 0,
    }


def test_disagreeing_rounds_go_to_review_with_the_metric_and_threshold(recipe: Recipe) -> None:
    shifted = _round("i1", 2, task_type="grounding", boxes=_boxes(15))  # 30% of the cup's width
    result = measure_agreement([_round("i1", 1, task_type="grounding", boxes=_boxes()), shifted], recipe.quality, WordOverlapScorer())
    assert result.released == []
    (item,) = result.review
    value, threshold = item.below["iou_agreement"]
    # cup: overlap 35x50 = 1750 over 5000 - 1750 = 3250; laptop 1.0.
    assert value == pytest.approx((1750 / 3250 + 1.0) / 2) and threshold == 0.85
    assert [sample.round for sample in item.rounds] == [1, 2]


def test_ocr_and_caption_agreement(recipe: Recipe) -> None:
    line = Box(x1=0, y1=0, x2=100, y2=20)
    first = _round("o", 1, task_type="ocr", ocr_lines=(OcrLine(text="0123456789", box=line),), conversations=_caption("a red cup on a desk"))
    second = _round("o", 2, task_type="ocr", ocr_lines=(OcrLine(text="0123456780", box=line),), conversations=_caption("a red mug on a desk"))
    scorer = WordOverlapScorer()
    result = measure_agreement([first, second], recipe.quality, scorer)
    (item,) = result.review
    assert item.metrics.ocr_accuracy == pytest.approx(0.9)
    assert item.metrics.bertscore_f1 == pytest.approx(0.8)
    assert set(item.below) == {"ocr_accuracy"}
    assert scorer.calls == [(["a red mug on a desk"], ["a red cup on a desk"])]
    assert scorer.encoders == ["all-MiniLM-L6-v2"]
    row = result.table().iloc[0]
    assert (row["text_language"], row["bertscore_encoder"]) == ("en", "all-MiniLM-L6-v2")


def test_text_no_encoder_covers_is_left_unscored(recipe: Recipe) -> None:
    first = _round("z", 1, task_type="caption", conversations=_caption("桌子左边有一个红色的杯子"))
    second = _round("z", 2, task_type="caption", conversations=_caption("桌子右边有一个杯子"))
    scorer = WordOverlapScorer()
    result = measure_agreement([first, second], recipe.quality, scorer)
    assert result.released[0].metrics.bertscore_f1 is None
    assert scorer.calls == []
    row = result.table().iloc[0]
    assert row["text_language"] == "zh" and row["bertscore_encoder"] is None


def test_each_language_is_scored_by_its_encoder_against_its_own_threshold(recipe: Recipe) -> None:
    chinese = TextEncoderConfig(name="zh-bert", model_path="/models/zh", num_layers=4, languages=("zh",),
                                bertscore_f1=EncoderThresholds(dataset=0.3, per_sample=0.3))
    quality = recipe.quality.model_copy(update={"text_encoders": (*recipe.quality.text_encoders, chinese)})
    rounds = [
        _round("en", 1, task_type="caption", conversations=_caption("a red cup on a wooden desk")),
        _round("en", 2, task_type="caption", conversations=_caption("a mug")),  # word F1 of 1/2 and 1/6: 0.25 < 0.3681
        _round("zh", 1, task_type="caption", conversations=_caption("桌 上 有 红 杯")),
        _round("zh", 2, task_type="caption", conversations=_caption("桌 上 有 杯")),  # word F1 8/9: over 0.3
        _round("ko", 1, task_type="caption", conversations=_caption("빨간 컵")),
        _round("ko", 2, task_type="caption", conversations=_caption("파란 컵")),
    ]
    scorer = WordOverlapScorer()
    result = measure_agreement(rounds, quality, scorer)
    assert scorer.encoders == ["all-MiniLM-L6-v2", "zh-bert"]  # one batched call per encoder, in recipe order
    (review,) = result.review
    assert review.item_id == "en" and review.below == {"bertscore_f1": (pytest.approx(0.25), 0.3681)}
    table = result.table().set_index("item_id")
    assert table.loc["zh", "bertscore_f1"] == pytest.approx(8 / 9)
    assert table["text_language"].to_dict() == {"en": "en", "ko": "ko", "zh": "zh"}
    assert table["bertscore_encoder"].dropna().to_dict() == {"en": "all-MiniLM-L6-v2", "zh": "zh-bert"}
    assert pd.isna(table.loc["ko", "bertscore_f1"])  # no encoder covers Korean: unscored


def test_a_single_round_is_released_unmeasured(recipe: Recipe) -> None:
    result = measure_agreement([_round("s", 1, task_type="grounding", boxes=_boxes())], recipe.quality, WordOverlapScorer())
    assert result.released[0].metrics.iou_agreement is None
    assert result.released[0].metrics.rounds_compared == 1


def test_gold_round_resolves_the_item(recipe: Recipe) -> None:
    gold = _round("i1", 3, task_type="grounding", boxes=_boxes(2)).model_copy(update={"gold": True})
    rounds = [_round("i1", 1, task_type="grounding", boxes=_boxes()), _round("i1", 2, task_type="grounding", boxes=_boxes(15)), gold]
    result = measure_agreement(rounds, recipe.quality, WordOverlapScorer())
    assert [sample.sample_id for sample in result.released] == ["i1-3"]
    assert result.stats()["items_resolved_by_gold"] == 1 and result.stats()["rounds_superseded"] == 2


def test_per_task_type_thresholds_override(recipe: Recipe) -> None:
    strict = recipe.quality.model_copy(update={"per_task_type": {"grounding": recipe.quality.per_sample.model_copy(update={"iou_agreement": 0.99})}})
    rounds = [_round("i1", 1, task_type="grounding", boxes=_boxes()), _round("i1", 2, task_type="grounding", boxes=_boxes(1))]
    assert measure_agreement(rounds, recipe.quality, WordOverlapScorer()).review == []
    assert len(measure_agreement(rounds, strict, WordOverlapScorer()).review) == 1


def test_review_round_trip_resolves_the_item(recipe: Recipe, fixtures_dir: Path, store: ImageStore, tmp_path: Path) -> None:
    """Review tasks import into Label Studio's task format; the reviewer's annotation, exported, releases the item."""
    photo = fixtures_dir / "label_studio_converter/tests/data/test_import_yolo_data_unif_dims/images/img_1.jpg"
    image = ingest_source(str(photo.parent.parent), "yolo", store, recipe).samples[0].images[0]
    release = tmp_path / "release"
    store.link_into(image.sha256, image.format, release / "images")
    first = _round("item-7", 1, task_type="grounding", boxes=_boxes(), images=(image,))
    second = _round("item-7", 2, task_type="grounding", boxes=_boxes(30), images=(image,))
    original = measure_agreement([first, second], recipe.quality, WordOverlapScorer())
    assert write_review(original.review, release / "review") == 1

    (task,) = json.loads((release / "review" / REVIEW_TASKS_NAME).read_text())
    assert set(task) == {"data", "predictions", "meta"} and isinstance(task["data"]["image"], str)
    assert [prediction["model_version"] for prediction in task["predictions"]] == ["round 1 (a1)", "round 2 (a2)"]
    assert all(result["type"] == "rectanglelabels" for prediction in task["predictions"] for result in prediction["result"])

    # The reviewer accepts round 1's regions; Label Studio exports the task with that annotation as ground truth.
    exported = dict(task, id=41, annotations=[{"id": 900, "completed_by": 3, "ground_truth": True, "result": task["predictions"][0]["result"]}])
    review_export = tmp_path / "reviewed" / "review_export.json"
    review_export.parent.mkdir()
    review_export.write_text(json.dumps([exported]))
    (adjudicated,) = ingest_source(str(review_export), "label_studio", store, recipe, images_root=str(release)).samples
    assert adjudicated.gold and adjudicated.item_id == "item-7"
    assert [box.label for box in adjudicated.boxes] == [box.label for box in first.boxes]
    for accepted, reviewed in zip(adjudicated.boxes, first.boxes, strict=True):
        assert (accepted.x1, accepted.y1, accepted.x2, accepted.y2) == pytest.approx((reviewed.x1, reviewed.y1, reviewed.x2, reviewed.y2))
    resolved = measure_agreement([first, second, adjudicated], recipe.quality, WordOverlapScorer())
    assert resolved.review == [] and resolved.released == [adjudicated]
    shutil.rmtree(release / "review")


def test_two_annotators_of_the_label_studio_converter_export(recipe: Recipe, fixtures_dir: Path, store: ImageStore, tmp_path: Path) -> None:
    """Task 1 of the converter's YOLO-export fixture: two annotators agree on 'parasites', not on 'white'."""
    from PIL import Image

    from vlforge.quality.metrics.iou import per_label_iou

    export = fixtures_dir / "label_studio_converter/tests/data/test_export_yolo/data.json"
    images = tmp_path / "images"
    images.mkdir()
    for name in ("image1", "image2"):  # the export's 2800x2800 images are not shipped: stand-ins of that size
        Image.new("RGB", (2800, 2800), "gray").save(images / name, format="PNG")
    samples = ingest_source(str(export), "label_studio", store, recipe, images_root=str(images)).samples
    first, second = sorted((s for s in samples if s.source.record_id.startswith("task 1/")), key=lambda s: s.round)
    assert (first.annotator, second.annotator) == ("2", "1") and first.item_id == second.item_id

    # IoU does not depend on scale, so the export's percentages give the expected values directly.
    # Round 2's box starts inside round 1's and ends beyond it on both axes: overlap = end of 1 - start of 2.
    parasites = (37.15846994535519 + 4.189435336976321 - 37.88706739526412) * (
        70.67395264116576 + 4.735883424408015 - 71.76684881602914
    )
    union = 4.189435336976321 * 4.735883424408015 + 3.8251366120218573 * 4.553734061930784 - parasites
    by_label = per_label_iou(list(first.boxes), list(second.boxes))
    assert by_label == pytest.approx({"parasites": parasites / union, "white": 0.0}, abs=1e-6)
    assert by_label["parasites"] == pytest.approx(0.5114, abs=1e-4)

    result = measure_agreement(samples, recipe.quality, WordOverlapScorer())
    (item,) = result.review
    assert item.metrics.iou_agreement == pytest.approx((parasites / union + 0.0) / 2, abs=1e-6)
    assert item.below["iou_agreement"][1] == 0.85
    (single,) = result.released  # task 2 has one annotator: released, not measured
    assert single.metrics.rounds_compared == 1


def _shuffled_rounds() -> list[Sample]:
    """Items of one to three rounds (some gold, some without an item id) in a shuffled order: rounds of an item are far apart."""
    rng = random.Random(3)
    words = ["a", "red", "cup", "on", "the", "wooden", "desk", "near", "one", "big", "mug", "桌", "上", "有", "杯"]
    rounds = []
    for index in range(60):
        item = "" if index % 13 == 0 else f"item-{rng.randrange(1000):03d}-{index}"
        task_type = rng.choice(["grounding", "caption", "ocr"])
        caption = [rng.choice(words) for _ in range(6)]
        for round_ in range(1, rng.choice([1, 2, 2, 3]) + 1):
            fields: dict[str, object] = {"task_type": task_type, "gold": rng.random() < 0.1}
            if task_type == "grounding":
                fields["boxes"] = _boxes(rng.uniform(0, 30))
            elif task_type == "ocr":
                fields["ocr_lines"] = (OcrLine(text=rng.choice(["OPEN", "OPEM", "CLOSED"]), box=Box(x1=1, y1=1, x2=50, y2=20)),)
            else:
                fields["conversations"] = _caption(" ".join(caption[: rng.randint(4, 6)]))
            sample = _round(item, round_, **fields)
            rounds.append(sample.model_copy(update={"sample_id": f"{index}-{round_}"}) if not item else sample)
    rng.shuffle(rounds)
    return rounds


def _outputs(run_dir: RunDir) -> dict[str, bytes]:
    paths = (run_dir.manifest, run_dir.agreement, run_dir.review_tasks, run_dir.review_label_config, run_dir.agreement_stats)
    return {path.name: path.read_bytes() for path in paths}


def test_the_stage_writes_the_same_bytes_whatever_its_chunk_size(recipe: Recipe, tmp_path: Path) -> None:
    """Chunks of one round, of a few and of every round write what measuring every item at once gives."""
    rounds = _shuffled_rounds()
    result = measure_agreement(rounds, recipe.quality, WordOverlapScorer())
    assert result.review and result.resolved_by_gold
    assert any(sample.metrics.bertscore_f1 is not None for sample in result.released)
    expected = RunDir(tmp_path / "expected")
    write_manifest(result.released, expected.manifest)
    result.table().to_parquet(expected.agreement, index=False)
    tasks = json.dumps([review_task(item) for item in result.review], indent=2, ensure_ascii=False)
    for chunk_rows in (1, 2, 7, 10_000):
        run_dir = RunDir(tmp_path / f"chunks of {chunk_rows}")
        write_manifest(rounds, run_dir.ingested)
        run = SimpleNamespace(run_dir=run_dir, recipe=recipe)
        scorer = WordOverlapScorer()
        stats = run_agreement(run, scorer, chunk_rows=chunk_rows)  # type: ignore[arg-type]
        assert stats == {"rounds_in": len(rounds), **result.stats(), "review_tasks": len(result.review)}
        assert run_dir.manifest.read_bytes() == expected.manifest.read_bytes()
        assert run_dir.agreement.read_bytes() == expected.agreement.read_bytes()
        assert run_dir.review_tasks.read_text(encoding="utf-8") == tasks
        if chunk_rows == 1:
            assert len(scorer.calls) > 1  # several chunks were scored, each in its own call
            first = _outputs(run_dir)
        else:
            assert _outputs(run_dir) == first
    rerun = RunDir(tmp_path / "chunks of 7")
    run_agreement(SimpleNamespace(run_dir=rerun, recipe=recipe), WordOverlapScorer(), chunk_rows=7)  # type: ignore[arg-type]
    assert _outputs(rerun) == first
    outputs = ["agreement.parquet", "agreement_stats.json", "ingested.parquet", "manifest.parquet", "review"]
    assert sorted(path.name for path in rerun.path.iterdir()) == outputs  # no temporary file left behind


def test_item_keys_fall_back_to_the_sample_id_as_item_key_does() -> None:
    samples = [_round("i1", 1, task_type="caption"), _round("", 2, task_type="caption")]
    table = pa.table({"item_id": ["i1", "", None], "sample_id": ["i1-1", "-2", "x-3"]})
    assert item_keys(table).to_pylist() == [item_key(samples[0]), item_key(samples[1]), "x-3"] == ["i1", "-2", "x-3"]
