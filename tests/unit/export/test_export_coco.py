"""COCO instances + captions: Datumaro's layout, loaded back with pycocotools."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from export_samples import COCO, SMALL, WIDE, caption_sample, grounding_sample, multi_image_sample, ocr_sample, system_sample
from pycocotools.coco import COCO as CocoApi

from vlforge.config import Recipe
from vlforge.export.coco import caption_answers, captions, export, instances
from vlforge.export.render import ExportError
from vlforge.geometry import coco_xywh_to_xyxy
from vlforge.records import Box, Turn

SAMPLES = [grounding_sample(), multi_image_sample(), ocr_sample(), caption_sample()]
DATUMARO = "datumaro/tests/assets/coco_dataset/coco/annotations"
PROMPT = "Describe this image."


def image_entry(image_id: int, width: int, height: int, file_name: str) -> dict:  # type: ignore[type-arg]
    return {
        "id": image_id,
        "width": width,
        "height": height,
        "file_name": file_name,
        "license": 0,
        "flickr_url": "",
        "coco_url": "",
        "date_captured": 0,
    }


IMAGES = [
    image_entry(1, 640, 428, COCO.file_name),  # first seen in grounding-1
    image_entry(2, 1000, 500, WIDE.file_name),  # multi-1, image 0
    image_entry(3, 200, 100, SMALL.file_name),  # multi-1, image 1
]


def test_instances_values() -> None:
    result = instances(SAMPLES, "ds")
    assert result["categories"] == [
        {"id": 1, "name": "bowl of carrots", "supercategory": ""},
        {"id": 2, "name": "dialog", "supercategory": ""},
        {"id": 3, "name": "poster", "supercategory": ""},
    ]
    assert result["images"] == IMAGES
    # (146, 137, 615, 415) -> [146, 137, 615 - 146 = 469, 415 - 137 = 278], area 469 * 278 = 130382
    # the dialog (50, 25, 150, 75) lies on SMALL (id 3); the poster (0, 0, 1000, 500) on WIDE (id 2)
    assert result["annotations"] == [
        {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [], "area": 130382.0, "bbox": [146.0, 137.0, 469.0, 278.0], "iscrowd": 0},
        {"id": 2, "image_id": 3, "category_id": 2, "segmentation": [], "area": 5000.0, "bbox": [50.0, 25.0, 100.0, 50.0], "iscrowd": 0},
        {"id": 3, "image_id": 2, "category_id": 3, "segmentation": [], "area": 500000.0, "bbox": [0.0, 0.0, 1000.0, 500.0], "iscrowd": 0},
    ]
    for annotation, box in zip(result["annotations"], [sample.boxes[0] for sample in SAMPLES[:3]], strict=True):
        assert coco_xywh_to_xyxy(*annotation["bbox"]) == (box.x1, box.y1, box.x2, box.y2)


def test_captions_values() -> None:
    result = captions(SAMPLES, "ds", PROMPT)
    assert "categories" not in result
    assert result["images"] == IMAGES
    assert result["annotations"] == [{"id": 1, "image_id": 1, "caption": "Carrots in a bowl, 胡萝卜."}]


def test_every_caption_in_the_release_is_in_the_captions_file() -> None:
    """A grounding sample annotated with a caption (as Label Studio exports give it) contributes its caption;
    a VQA answer is no caption; a caption sample's every answer is one."""
    described = grounding_sample().model_copy(
        update={"conversations": (Turn(role="user", content="<image>\n describe THIS image. "), Turn(role="assistant", content="A bowl of carrots."))}
    )
    asked = caption_sample().model_copy(
        update={
            "sample_id": "caption-2",
            "conversations": (
                Turn(role="user", content="What is in the bowl?"),
                Turn(role="assistant", content="Carrots."),
                Turn(role="user", content="And in one sentence?"),
                Turn(role="assistant", content="Sliced carrots fill a white bowl."),
            ),
        }
    )
    result = captions([described, multi_image_sample(), system_sample(), asked], "ds", PROMPT)
    assert [(item["image_id"], item["caption"]) for item in result["annotations"]] == [
        (1, "A bowl of carrots."),
        (1, "Carrots."),
        (1, "Sliced carrots fill a white bowl."),
    ]
    assert caption_answers(system_sample(), PROMPT) == []


def test_ids_are_stable() -> None:
    assert instances(SAMPLES, "ds") == instances(list(SAMPLES), "ds")
    assert captions(SAMPLES, "ds", PROMPT) == captions(list(SAMPLES), "ds", PROMPT)


def test_files_have_datumaros_structure_and_captions_cocos(fixtures_dir: Path) -> None:
    """Instances as Datumaro writes them; captions as COCO's own captions_train2017.json: no categories, and
    annotations of id, image_id and caption (Datumaro's category_id 0 points at no category)."""
    for kind, ours in (("instances", instances(SAMPLES, "ds")), ("captions", captions(SAMPLES, "ds", PROMPT))):
        reference = json.loads((fixtures_dir / DATUMARO / f"{kind}_train.json").read_text(encoding="utf-8"))
        not_in_captions = {"categories"} if kind == "captions" else set()
        assert set(ours) == set(reference) - not_in_captions
        assert set(reference) == {"licenses", "info", "categories", "images", "annotations"}
        assert set(ours["info"]) - set(reference["info"]) == {"images_dir"}
        assert ours["licenses"] == reference["licenses"]
        assert [set(image) for image in ours["images"]] == [set(reference["images"][0])] * 3
        keys = {key for annotation in ours["annotations"] for key in annotation}
        assert keys == set(reference["annotations"][0]) - ({"category_id"} if kind == "captions" else set())
        if reference["categories"]:
            assert {key for category in ours["categories"] for key in category} == set(reference["categories"][0])


def test_pycocotools_loads_both_files(tmp_path: Path, recipe: Recipe) -> None:
    instances_path, captions_path = export(SAMPLES, tmp_path / "coco", "ds", recipe)
    assert [instances_path.name, captions_path.name] == ["instances_ds.json", "captions_ds.json"]
    api = CocoApi(str(instances_path))
    assert sorted(api.getImgIds()) == [1, 2, 3]
    assert api.getCatIds(catNms=["dialog"]) == [2]
    assert api.getAnnIds(imgIds=[3]) == [2]
    assert api.getAnnIds(catIds=[1, 3]) == [1, 3]
    assert api.loadAnns(3)[0]["bbox"] == [0.0, 0.0, 1000.0, 500.0]
    assert api.loadImgs(3)[0]["file_name"] == SMALL.file_name
    assert api.loadCats(1)[0]["name"] == "bowl of carrots"
    caption_api = CocoApi(str(captions_path))
    assert caption_api.getAnnIds(imgIds=[1]) == [1]
    assert caption_api.loadAnns(1)[0]["caption"] == "Carrots in a bowl, 胡萝卜."
    assert caption_api.getAnnIds(imgIds=[2, 3]) == []
    assert "category_id" not in caption_api.loadAnns(1)[0] and "categories" not in caption_api.dataset


def test_unlabelled_box_is_refused() -> None:
    sample = grounding_sample().model_copy(update={"boxes": (Box(x1=1, y1=1, x2=2, y2=2),)})
    with pytest.raises(ExportError, match="grounding-1: a box without a label has no COCO category"):
        instances([sample], "ds")


def test_empty_release_is_valid_coco(tmp_path: Path, recipe: Recipe) -> None:
    instances_path, _ = export([], tmp_path, "ds", recipe)
    assert CocoApi(str(instances_path)).getAnnIds() == []
