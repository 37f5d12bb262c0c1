"""Real photos and their labels from ../shared/fixtures, as arrays and Targets."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import cv2
import numpy as np
import pytest

from vlforge.augment.targets import Targets
from vlforge.geometry import yolo_cxcywh_to_xyxy
from vlforge.records import Box, GuiAction, OcrLine

FIXTURES = Path(__file__).resolve().parents[4] / "shared" / "fixtures"
YOLO_DIR = FIXTURES / "label_studio_converter/tests/data/test_import_yolo_data_unif_dims"
COCO_PHOTO = FIXTURES / "qwen3vl_finetune/demo/images/COCO_train2014_000000580957.jpg"


def read_rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, f"cannot read {path}"
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def yolo_boxes(name: str, width: int, height: int) -> tuple[Box, ...]:
    classes = (YOLO_DIR / "classes.txt").read_text().split()
    boxes = []
    for line in (YOLO_DIR / "labels" / f"{name}.txt").read_text().splitlines():
        cls, cx, cy, w, h = line.split()
        x1, y1, x2, y2 = yolo_cxcywh_to_xyxy(float(cx), float(cy), float(w), float(h), width, height)
        boxes.append(Box(x1=x1, y1=y1, x2=x2, y2=y2, label=classes[int(cls)]))
    return tuple(boxes)


@pytest.fixture(scope="session")
def bus_image() -> np.ndarray:
    """img_1.jpg: 640x329, a bus with doors and a number plate."""
    image = read_rgb(YOLO_DIR / "images" / "img_1.jpg")
    assert image.shape[:2] == (329, 640)
    return image


@pytest.fixture(scope="session")
def bus_boxes() -> tuple[Box, ...]:
    return yolo_boxes("img_1", 640, 329)


@pytest.fixture(scope="session")
def coco_image() -> np.ndarray:
    image = read_rgb(COCO_PHOTO)
    assert image.shape[:2] == (428, 640)
    return image


@pytest.fixture
def bus_targets(bus_boxes: tuple[Box, ...]) -> Targets:
    """Every kind of target on img_1: YOLO boxes, an OCR line, a GUI action (box + point), a text box."""
    number = bus_boxes[1]
    return Targets(
        width=640,
        height=329,
        boxes=bus_boxes,
        ocr_lines=(OcrLine(text="42", box=number),),
        actions=(GuiAction(type="click", box=bus_boxes[2], point=(276.0, 175.0)),),
        text_boxes=((20.0, 30.0, 300.0, 280.0),),
    )
