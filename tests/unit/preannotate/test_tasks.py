"""Images -> a Label Studio import file with predictions that vlforge's Label Studio reader understands."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from vlforge.config import RecipeError, load_recipe
from vlforge.preannotate.tasks import (
    list_image_shards,
    list_images,
    merge_shards,
    preannotate_shard,
    run_preannotate,
)
from vlforge.preannotate.config import PreannotateConfig, with_params
from vlforge.records import Box

CAT = "images_from_wheels/skimage/chelsea.png"  # 451x300
PARAGRAPH = "debian_opencv_doc_4.6.0+dfsg-12/data/imageTextN.png"  # 556x257
POSTER = "label_studio_ml_backend_tesseract/test_images/image.jpeg"  # 1080x1349
POSTER_EXIF = "label_studio_ml_backend_tesseract/test_images/image_has_exif_orientation.jpeg"  # stored 1349x1080, Orientation=6
OCR_ONLY = PreannotateConfig()
NO_OCR = PreannotateConfig.model_validate({"ocr": {"enabled": False}})


class FakeVlm:
    """A stand-in model with known answers, to check how they become Label Studio results."""

    model_version = "fake:v1"

    def __init__(self, boxes: list[Box], caption: str) -> None:
        self.boxes = boxes
        self.text = caption
        self.seen: list[tuple[int, int]] = []

    def caption(self, image: Image.Image) -> str:
        self.seen.append(image.size)
        return self.text

    def ground(self, image: Image.Image) -> list[Box]:
        return self.boxes


def _copy(fixtures_dir: Path, folder: Path, names: dict[str, str]) -> Path:
    for target, source in names.items():
        (folder / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(fixtures_dir / source, folder / target)
    return folder


def test_images_are_listed_recursively_sorted_without_hidden_or_other_files(tmp_path: Path) -> None:
    for name in ["b.JPG", "a/c.png", "a/d.webp", "notes.txt", ".hidden/e.png", "a/.f.png"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    assert list_images(tmp_path) == ["a/c.png", "a/d.webp", "b.JPG"]
    assert list_image_shards(tmp_path, 2) == [{"index": 0, "files": ["a/c.png", "a/d.webp"]}, {"index": 1, "files": ["b.JPG"]}]


def test_an_empty_or_missing_folder_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "readme.md").write_text("no images")
    with pytest.raises(ValueError, match=r"no image files in .* \(looked for \.jpg"):
        list_images(tmp_path)
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        list_images(tmp_path / "missing")


def test_vlm_boxes_and_caption_become_rectanglelabels_and_a_caption_textarea(fixtures_dir: Path, tmp_path: Path) -> None:
    images = _copy(fixtures_dir, tmp_path / "images", {"cats/chelsea 1.png": CAT})
    vlm = FakeVlm([Box(x1=45.1, y1=30.0, x2=270.6, y2=300.0, label="cat")], "A ginger cat.")
    counts = run_preannotate(images, tmp_path / "out" / "tasks.json", NO_OCR, vlm)
    assert {key: counts[key] for key in ("images", "tasks", "ocr_lines", "boxes", "captions", "skipped")} == {
        "images": 1, "tasks": 1, "ocr_lines": 0, "boxes": 1, "captions": 1, "skipped": [],
    }  # fmt: skip
    (task,) = json.loads((tmp_path / "out" / "tasks.json").read_text())
    assert task["data"] == {"image": "/data/local-files/?d=cats/chelsea%201.png"}
    assert task["meta"]["width"] == 451 and task["meta"]["height"] == 300 and task["meta"]["vlforge_file"] == "cats/chelsea 1.png"
    (prediction,) = task["predictions"]
    assert prediction["model_version"] == "vlforge-preannotate: fake:v1" and "score" not in prediction
    box, caption = prediction["result"]
    assert box["type"] == "rectanglelabels" and box["from_name"] == "label" and box["to_name"] == "image"
    assert (box["original_width"], box["original_height"]) == (451, 300)
    assert box["value"]["rectanglelabels"] == ["cat"]
    assert [box["value"][key] for key in ("x", "y", "width", "height")] == pytest.approx([10.0, 10.0, 50.0, 90.0])
    assert caption == {"id": "caption0", "type": "textarea", "from_name": "caption", "to_name": "image", "value": {"text": ["A ginger cat."]}}
    config = (tmp_path / "out" / "label_config.xml").read_text()
    assert '<Label value="cat"/>' in config and 'name="transcription"' in config and 'name="caption"' in config


@pytest.mark.slow
def test_ocr_lines_are_box_and_transcription_pairs_with_scores(fixtures_dir: Path, tmp_path: Path) -> None:
    images = _copy(fixtures_dir, tmp_path / "images", {"paragraph.png": PARAGRAPH})
    counts = run_preannotate(images, tmp_path / "tasks.json", OCR_ONLY)
    assert counts["ocr_lines"] == 13 and counts["boxes"] == counts["captions"] == 0
    (task,) = json.loads((tmp_path / "tasks.json").read_text())
    (prediction,) = task["predictions"]
    assert prediction["model_version"].startswith("vlforge-preannotate: tesseract 5.") and "(eng+chi_sim)" in prediction["model_version"]
    assert 0.8 < prediction["score"] <= 1.0
    results = prediction["result"]
    assert len(results) == 26
    for rectangle, text in zip(results[::2], results[1::2], strict=True):
        assert rectangle["id"] == text["id"]
        assert (rectangle["type"], rectangle["from_name"], rectangle["value"]["rectanglelabels"]) == ("rectanglelabels", "label", ["Text"])
        assert (text["type"], text["from_name"], text["to_name"]) == ("textarea", "transcription", "image")
        assert {key: text["value"][key] for key in ("x", "y", "width", "height")} == {
            key: rectangle["value"][key] for key in ("x", "y", "width", "height")
        }
        assert 0 <= rectangle["value"]["x"] and rectangle["value"]["x"] + rectangle["value"]["width"] <= 100
        assert rectangle["score"] == text["score"]
    assert results[1]["value"]["text"] == ["technical details are too complex to cover in the book itself."]
    assert task["meta"]["languages"] == ["en"]


@pytest.mark.slow
def test_exif_rotated_photo_is_read_upright_like_the_unrotated_one(fixtures_dir: Path, tmp_path: Path) -> None:
    images = _copy(fixtures_dir, tmp_path / "images", {"plain.jpeg": POSTER, "rotated.jpeg": POSTER_EXIF})
    with Image.open(images / "rotated.jpeg") as stored:
        assert stored.size == (1349, 1080)  # the pixels lie on their side; EXIF says turn them
    run_preannotate(images, tmp_path / "tasks.json", OCR_ONLY)
    plain, rotated = json.loads((tmp_path / "tasks.json").read_text())
    texts = {}
    for task in (plain, rotated):
        result = task["predictions"][0]["result"]
        assert {(item["original_width"], item["original_height"]) for item in result} == {(1080, 1349)}
        texts[task["meta"]["vlforge_file"]] = [item["value"]["text"][0] for item in result if item["type"] == "textarea"]
    assert "PUNYA" in texts["rotated.jpeg"]
    assert texts["rotated.jpeg"] == texts["plain.jpeg"]


def test_undecodable_images_are_skipped_with_a_reason(fixtures_dir: Path, tmp_path: Path) -> None:
    images = _copy(fixtures_dir, tmp_path / "images", {"cat.png": CAT})
    (images / "broken.jpg").write_bytes(b"not a jpeg")
    counts = run_preannotate(images, tmp_path / "tasks.json", NO_OCR, FakeVlm([], ""))
    assert counts["images"] == 2 and counts["tasks"] == 1 and counts["captions"] == 0
    assert [entry["file"] for entry in counts["skipped"]] == ["broken.jpg"]
    assert "cannot be decoded" in counts["skipped"][0]["reason"]
    (task,) = json.loads((tmp_path / "tasks.json").read_text())
    assert task["predictions"][0]["result"] == []


def test_shards_merge_in_order_into_one_import_file(fixtures_dir: Path, tmp_path: Path) -> None:
    images = _copy(fixtures_dir, tmp_path / "images", {"a.png": CAT, "b.png": CAT, "c.png": CAT})
    vlm = FakeVlm([Box(x1=0, y1=0, x2=10, y2=10, label="dog")], "A cat.")
    shards = list_image_shards(images, 2)
    written = [preannotate_shard(images, shard["files"], tmp_path / f"shards/{shard['index']}.json", NO_OCR, vlm) for shard in shards]
    assert [shard["tasks"] for shard in written] == [2, 1]
    counts = merge_shards([Path(shard["shard_file"]) for shard in written], tmp_path / "tasks.json")
    assert (counts["tasks"], counts["boxes"], counts["captions"]) == (3, 3, 3)
    tasks = json.loads((tmp_path / "tasks.json").read_text())
    assert [task["meta"]["vlforge_file"] for task in tasks] == ["a.png", "b.png", "c.png"]
    assert vlm.seen == [(451, 300)] * 3


def test_the_recipe_section_with_a_runs_params(recipe) -> None:  # noqa: ANN001
    config = recipe.preannotate
    assert config.ocr.languages == ("eng", "chi_sim") and config.vlm.model_path is None and config.vlm.max_new_tokens == 256
    changed = with_params(config, ["eng"], "/models/qwen")
    assert changed.ocr.languages == ("eng",) and changed.vlm.model_path == "/models/qwen" and changed.shard_size == 16
    assert with_params(config, None, None) == config


def test_recipe_errors_name_the_key_and_what_is_allowed(tmp_path: Path) -> None:
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("preannotate:\n  vlm:\n    model: /x\n    max_new_tokens: 0\n")
    with pytest.raises(RecipeError) as error:
        load_recipe(str(recipe))
    message = str(error.value)
    assert "preannotate.vlm.model: unknown key; allowed here: [" in message and "'model_path'" in message
    assert "preannotate.vlm.max_new_tokens = 0" in message


@pytest.mark.slow
def test_accepted_predictions_read_back_through_the_label_studio_ingest(fixtures_dir: Path, tmp_path: Path, store, recipe) -> None:  # noqa: ANN001
    from vlforge.ingest import ingest_source

    images = _copy(fixtures_dir, tmp_path / "images", {"paragraph.png": PARAGRAPH})
    run_preannotate(images, tmp_path / "tasks.json", OCR_ONLY)
    tasks = json.loads((tmp_path / "tasks.json").read_text())
    # What a Label Studio export holds once an annotator accepts the predictions unchanged.
    export = [
        task | {"id": number, "annotations": [{"id": 100 + number, "completed_by": 1, "result": task["predictions"][0]["result"]}]}
        for number, task in enumerate(tasks, start=1)
    ]
    (tmp_path / "export.json").write_text(json.dumps(export, ensure_ascii=False))
    result = ingest_source(str(tmp_path / "export.json"), "label_studio", store, recipe, images_root=str(images))
    assert result.rejections == []
    (sample,) = result.samples
    assert sample.task_type == "ocr" and len(sample.ocr_lines) == 13
    assert sample.ocr_lines[0].text == "technical details are too complex to cover in the book itself."
    box = sample.ocr_lines[0].box
    assert (box.x1, box.y1) == pytest.approx((31.0, 19.0))
