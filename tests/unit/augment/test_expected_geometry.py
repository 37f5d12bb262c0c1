"""Exact boxes after flip, crop and rotate-90 on real photos: hand arithmetic and albumentations called directly."""

from __future__ import annotations

import albumentations as A
import numpy as np
import pytest
from albumentations.augmentations.geometric import functional as fgeometric
from augment_photos import bus_boxes, bus_image, coco_image  # noqa: F401  (fixtures)

from vlforge.augment.ops import build_op
from vlforge.augment.targets import Targets
from vlforge.records import Box, GuiAction

# img_1.jpg (640x329) YOLO labels in pixels, by hand: cx*640 -+ w*640/2, cy*329 -+ h*329/2.
BUS_XYXY = [(10, 9, 627, 295), (162, 32, 208, 77), (237, 59, 315, 291), (477, 69, 535, 262)]


def xyxy(targets: Targets) -> list[tuple[float, float, float, float] | None]:
    return [None if b is None else (b.x1, b.y1, b.x2, b.y2) for b in targets.boxes]


def direct(transforms: list, image: np.ndarray, boxes: list) -> tuple[np.ndarray, np.ndarray, list]:
    """albumentations itself, without vlforge in between."""
    compose = A.Compose(transforms, bbox_params=A.BboxParams(format="pascal_voc", label_fields=["ids"], clip=True, min_visibility=0.3))
    out = compose(image=image, bboxes=np.asarray(boxes, dtype=np.float64), ids=list(range(len(boxes))))
    return out["image"], np.asarray(out["bboxes"]), list(out["ids"])


def test_yolo_labels_read_as_hand_arithmetic(bus_boxes) -> None:
    np.testing.assert_allclose([(b.x1, b.y1, b.x2, b.y2) for b in bus_boxes], BUS_XYXY, atol=1e-9)


def test_horizontal_flip_bus(bus_image, bus_boxes) -> None:
    targets = Targets(width=640, height=329, boxes=bus_boxes)
    image, moved = build_op("horizontal_flip").apply(bus_image, targets, {})
    by_hand = [(640 - x2, y1, 640 - x1, y2) for x1, y1, x2, y2 in BUS_XYXY]
    assert by_hand[0] == (13, 9, 630, 295) and by_hand[1] == (432, 32, 478, 77)
    np.testing.assert_allclose(xyxy(moved), by_hand, atol=1e-3)
    np.testing.assert_array_equal(image, bus_image[:, ::-1])
    album_image, album_boxes, _ = direct([A.HorizontalFlip(p=1)], bus_image, BUS_XYXY)
    np.testing.assert_array_equal(image, album_image)
    np.testing.assert_allclose(xyxy(moved), album_boxes, atol=1e-3)
    assert [b.label for b in moved.boxes] == [b.label for b in bus_boxes]


def test_crop_right_half_bus(bus_image, bus_boxes) -> None:
    """Window x 320..640, full height, scaled back to 640x329: x' = (clip(x, 320, 640) - 320) * 2."""
    op = build_op("random_resized_crop", {"min_visibility": 0.3})
    params = {"x_min_frac": 0.5, "y_min_frac": 0.0, "width_frac": 0.5, "height_frac": 1.0}
    image, moved = op.apply(bus_image, Targets(width=640, height=329, boxes=bus_boxes), params)
    # bus: 10..627 -> 0..614 (visible share 307/617 = 0.50 >= 0.3); number and left door fall outside.
    assert xyxy(moved) == [(0.0, 9.0, 614.0, 295.0), None, None, ((477 - 320) * 2, 69.0, (535 - 320) * 2, 262.0)]
    assert len(moved.lost) == 2 and "'number'" in moved.lost[0]
    album_image, album_boxes, ids = direct([A.Crop(320, 0, 640, 329), A.Resize(329, 640)], bus_image, BUS_XYXY)
    np.testing.assert_array_equal(image, album_image)
    assert ids == [0, 3]
    np.testing.assert_allclose([xyxy(moved)[0], xyxy(moved)[3]], album_boxes, atol=1e-3)


@pytest.mark.parametrize("angle", [90.0, -270.0])
def test_rotate_90_bus(angle, bus_image, bus_boxes) -> None:
    """Counter-clockwise as np.rot90(k=1): the image becomes 329x640, x' = y, y' = 640 - x."""
    targets = Targets(
        width=640, height=329, boxes=bus_boxes, actions=(GuiAction(type="click", point=(276.0, 175.0)),)
    )
    image, moved = build_op("rotate").apply(bus_image, targets, {"angle": angle})
    assert image.shape == (640, 329, 3) and (moved.width, moved.height) == (329, 640)
    np.testing.assert_array_equal(image, np.rot90(bus_image, k=1))
    by_hand = [(y1, 640 - x2, y2, 640 - x1) for x1, y1, x2, y2 in BUS_XYXY]
    assert by_hand[0] == (9, 13, 295, 630)
    np.testing.assert_allclose(xyxy(moved), by_hand, atol=1e-3)
    normalized = np.asarray(BUS_XYXY, dtype=np.float64) / [640, 329, 640, 329]
    album = fgeometric.bboxes_rot90(normalized, 1) * [329, 640, 329, 640]
    np.testing.assert_allclose(xyxy(moved), album, atol=1e-3)
    # a point at pixel (276, 175) goes to pixel index (175, 640 - 1 - 276), as np.rot90 moves that pixel
    assert moved.actions[0].point == (175.0, 363.0)


def test_coco_photo_flip_and_rotations(coco_image) -> None:
    """640x428 COCO photo, one box (100, 50, 300, 400)."""
    targets = Targets(width=640, height=428, boxes=(Box(x1=100, y1=50, x2=300, y2=400, label="person"),))
    _, flipped = build_op("horizontal_flip").apply(coco_image, targets, {})
    assert xyxy(flipped) == [(340.0, 50.0, 540.0, 400.0)]
    rotate = build_op("rotate")
    image_90, turned = rotate.apply(coco_image, targets, {"angle": 90.0})
    assert image_90.shape == (640, 428, 3) and xyxy(turned) == [(50.0, 340.0, 400.0, 540.0)]
    image_180, half = rotate.apply(coco_image, targets, {"angle": 180.0})
    np.testing.assert_array_equal(image_180, np.rot90(coco_image, k=2))
    assert xyxy(half) == [(340.0, 28.0, 540.0, 378.0)]
    image_270, back = rotate.apply(coco_image, targets, {"angle": 270.0})
    np.testing.assert_array_equal(image_270, np.rot90(coco_image, k=3))
    assert xyxy(back) == [(28.0, 100.0, 378.0, 300.0)]


def test_small_rotation_matches_albumentations(coco_image) -> None:
    box = (100.0, 50.0, 300.0, 400.0)
    targets = Targets(width=640, height=428, boxes=(Box(x1=box[0], y1=box[1], x2=box[2], y2=box[3]),))
    image, moved = build_op("rotate").apply(coco_image, targets, {"angle": 12.5})
    album_image, album_boxes, _ = direct([A.Rotate(limit=(12.5, 12.5), border_mode=0, p=1)], coco_image, [box])
    np.testing.assert_array_equal(image, album_image)
    np.testing.assert_allclose(xyxy(moved), album_boxes, atol=1e-3)


def test_random_erasing_drops_covered_box_and_says_so(coco_image) -> None:
    """A hole covering 81% of a box drops it at min share 0.5; the lost entry names the box, its label and the rule."""
    targets = Targets(width=640, height=428, boxes=(Box(x1=0, y1=0, x2=640, y2=428, label="scene"),))
    op = build_op("random_erasing", {"min_visibility": 0.5})
    image, moved = op.apply(coco_image, targets, {"num_holes": 1, "hole_height": 0.9, "hole_width": 0.9, "aug_seed": 0})
    assert moved.boxes == (None,)
    assert moved.lost == ("boxes[0] 'scene': visible share below 0.5 (or under 1 px) after random_erasing",)
    # the hole is 576 x 385 px (0.9 of each side), so at most 19% of the box is left; the photo has no black pixel
    assert int((coco_image.max(axis=2) == 0).sum()) == 0
    assert int((image.max(axis=2) == 0).sum()) == 576 * 385
