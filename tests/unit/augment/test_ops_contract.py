"""Contract tests over every registered op, driven by one ``[op, params]`` table."""

from __future__ import annotations

import numpy as np
import pytest

from augment_photos import bus_boxes, bus_image, bus_targets  # noqa: F401  (fixtures)

from vlforge.augment.ops import REGISTRY, build_op
from vlforge.augment.targets import Targets

OP_TABLE: list[tuple[str, dict]] = [
    ("random_resized_crop", {"scale_range": (0.4, 0.8)}),
    ("horizontal_flip", {}),
    ("rotate", {"angle_range": (-20.0, 20.0)}),
    ("rotate", {"angles": (90.0, 180.0, 270.0)}),
    ("perspective", {"scale_range": (0.05, 0.1)}),
    ("color_jitter", {}),
    ("gaussian_noise", {}),
    ("gaussian_blur", {}),
    ("motion_blur", {"kernel_range": (5, 9)}),
    ("random_erasing", {"num_holes_range": (2, 4), "hole_size_range": (0.2, 0.4), "min_visibility": 0.5}),
    ("low_light", {}),
    ("jpeg", {"quality_range": (20, 60)}),
    ("ocr_degradation", {}),
    ("watermark", {}),
    ("shadow", {}),
    ("paper_texture", {}),
    ("warp", {"amplitude_range": (0.01, 0.03)}),
    ("resample", {"restore_probability": 0.0}),
    ("resample", {"restore_probability": 1.0}),
]
SEEDS = [0, 1, 2]


def test_table_covers_every_registered_op() -> None:
    assert {name for name, _ in OP_TABLE} == set(REGISTRY)


def _run(name: str, params: dict, seed: int, image: np.ndarray, targets: Targets):
    op = build_op(name, params)
    drawn = op.sample(np.random.default_rng(seed))
    return drawn, op.apply(image, targets, drawn)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("name", "params"), OP_TABLE)
def test_boxes_stay_inside_with_positive_area(name, params, seed, bus_image, bus_targets) -> None:
    _, (image, targets) = _run(name, params, seed, bus_image, bus_targets)
    height, width = image.shape[:2]
    assert (targets.width, targets.height) == (width, height)
    for x1, y1, x2, y2 in targets.live_boxes():
        assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height, (x1, y1, x2, y2)
    for action in targets.actions:
        if action is not None and action.point is not None:
            assert 0 <= action.point[0] <= width and 0 <= action.point[1] <= height
    kept = sum(b is not None for b in targets.boxes)
    assert kept + sum("boxes[" in entry for entry in targets.lost) == len(bus_targets.boxes)


@pytest.mark.parametrize(("name", "params"), OP_TABLE)
def test_input_is_not_mutated(name, params, bus_image, bus_targets) -> None:
    image_before = bus_image.copy()
    targets_before = bus_targets
    _run(name, params, 0, bus_image, bus_targets)
    np.testing.assert_array_equal(bus_image, image_before)
    assert bus_targets == targets_before


@pytest.mark.parametrize(("name", "params"), OP_TABLE)
def test_same_seed_gives_same_output(name, params, bus_image, bus_targets) -> None:
    drawn_a, (image_a, targets_a) = _run(name, params, 7, bus_image, bus_targets)
    drawn_b, (image_b, targets_b) = _run(name, params, 7, bus_image, bus_targets)
    assert drawn_a == drawn_b
    assert image_a.tobytes() == image_b.tobytes()
    assert targets_a == targets_b


@pytest.mark.parametrize(("name", "params"), OP_TABLE)
def test_params_are_json_and_replay_from_params(name, params, bus_image, bus_targets) -> None:
    import json

    op = build_op(name, params)
    drawn = op.sample(np.random.default_rng(3))
    again = json.loads(json.dumps(drawn))
    image_a, targets_a = op.apply(bus_image, bus_targets, drawn)
    image_b, targets_b = build_op(name, params).apply(bus_image, bus_targets, again)
    assert image_a.tobytes() == image_b.tobytes() and targets_a == targets_b


@pytest.mark.parametrize(("name", "params"), OP_TABLE)
def test_empty_targets(name, params, bus_image) -> None:
    _, (image, targets) = _run(name, params, 0, bus_image, Targets(width=640, height=329))
    assert image.dtype == np.uint8 and image.ndim == 3
    assert targets.boxes == () and targets.text_boxes == () and targets.lost == ()


def test_unknown_op_lists_known_ones() -> None:
    with pytest.raises(ValueError, match="known ops: .*horizontal_flip"):
        build_op("flip_sideways")


def test_invalid_params_name_op_field_and_value() -> None:
    with pytest.raises(ValueError, match=r"rotate.*angle_range.*\(30.0, 10.0\)"):
        build_op("rotate", {"angle_range": (30.0, 10.0)})
    with pytest.raises(ValueError, match="jpeg"):
        build_op("jpeg", {"quality_range": (0, 200)})
    with pytest.raises(ValueError, match="extra"):
        build_op("horizontal_flip", {"probabilty": 0.5})


def runs_as_image_only_transforms(name: str, params: dict) -> bool:
    """Whether ``run_albumentations`` calls the op's transforms without a Compose (all of them image-only)."""
    import albumentations as A

    op = build_op(name, params)
    try:
        transforms = op.transforms(op.sample(np.random.default_rng(0)), 64, 48)
    except NotImplementedError:  # the op applies itself without albumentations
        return False
    return all(isinstance(transform, A.ImageOnlyTransform) for transform in transforms)


PIXEL_ONLY_TABLE = [row for row in OP_TABLE if runs_as_image_only_transforms(*row)]


def test_the_pixel_only_table_holds_the_colour_ops_and_no_geometric_one() -> None:
    names = {name for name, _ in PIXEL_ONLY_TABLE}
    assert {"color_jitter", "jpeg"} <= names and not names & {"rotate", "random_crop", "horizontal_flip"}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("name", "params"), PIXEL_ONLY_TABLE)
def test_pixel_only_ops_give_the_bytes_of_a_seeded_compose(name, params, seed, bus_image, bus_targets) -> None:
    # run_albumentations calls a pixel-only op's transforms without a Compose: the same bytes as one
    import albumentations as A

    op = build_op(name, params)
    drawn = op.sample(np.random.default_rng(seed))
    transforms = op.transforms(drawn, bus_targets.width, bus_targets.height)
    expected = A.Compose(transforms, seed=int(drawn.get("aug_seed", 0)))(image=bus_image.copy())["image"]
    image, targets = op.apply(bus_image, bus_targets, drawn)
    assert image.tobytes() == np.ascontiguousarray(expected).tobytes() and targets == bus_targets
