"""Contract tests over every registered op, driven by one ``[op, params]`` table."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from augment_photos import bus_boxes, bus_image, bus_targets  # noqa: F401  (fixtures)

from vlforge.augment.functional import TRANSFORM_TEMPLATES, build_transform
from vlforge.augment.ops import REGISTRY, Op, build_op
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


def through_a_full_compose(transforms: list, seed: int, image: np.ndarray, targets: Targets) -> tuple[bytes, list, list]:
    """The image bytes, boxes and points from one ``A.Compose`` with both a box and a keypoint processor."""
    import albumentations as A

    boxes = [*targets.live_boxes()]
    points = [action.point for action in targets.actions if action is not None and action.point is not None]
    result = A.Compose(
        transforms,
        bbox_params=A.BboxParams(
            format="pascal_voc", label_fields=["ids"], clip=True, min_visibility=0.0, min_width=1.0, min_height=1.0
        ),
        keypoint_params=A.KeypointParams(format="xy", label_fields=["point_ids"], remove_invisible=True),
        seed=seed,
    )(
        image=image.copy(),
        bboxes=np.asarray(boxes, dtype=np.float64).reshape(-1, 4),
        ids=list(range(len(boxes))),
        keypoints=np.asarray(points, dtype=np.float64).reshape(-1, 2),
        point_ids=list(range(len(points))),
    )
    moved = [tuple(round(float(v), 4) for v in row[:4]) for row in np.asarray(result["bboxes"]).reshape(-1, 4)]
    moved_points = [tuple(round(float(v), 4) for v in row[:2]) for row in np.asarray(result["keypoints"]).reshape(-1, 2)]
    return np.ascontiguousarray(result["image"]).tobytes(), moved, moved_points


# geometric ops that run_albumentations applies (the rest apply themselves, with their own geometry)
THROUGH_ALBUMENTATIONS = [row for row in OP_TABLE if row not in PIXEL_ONLY_TABLE and REGISTRY[row[0]].apply is Op.apply]


def test_geometric_ops_through_albumentations_are_the_flip_crop_rotate_perspective_and_erasing() -> None:
    assert {name for name, _ in THROUGH_ALBUMENTATIONS} == {
        "random_resized_crop",
        "horizontal_flip",
        "rotate",
        "perspective",
        "random_erasing",
    }


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kept", ["nothing", "boxes", "points"])
@pytest.mark.parametrize(("name", "params"), THROUGH_ALBUMENTATIONS)
def test_ops_run_with_only_the_processors_they_need_and_give_what_a_full_compose_gives(
    name, params, kept, seed, bus_image, bus_targets
) -> None:
    # run_albumentations leaves out the box or keypoint processor with nothing to process, and the Compose
    # itself when there is no target at all: the image, boxes and points are those of a Compose with both.
    targets = {
        "nothing": Targets(width=640, height=329),
        "boxes": Targets(width=640, height=329, boxes=bus_targets.boxes),
        "points": Targets(width=640, height=329, actions=(bus_targets.actions[0].model_copy(update={"box": None}),)),
    }[kept]
    op = build_op(name, {**params, "min_visibility": 0.0})
    drawn = op.sample(np.random.default_rng(seed))
    transforms = op.transforms(drawn, targets.width, targets.height)
    expected_image, expected_boxes, expected_points = through_a_full_compose(
        transforms, int(drawn.get("aug_seed", 0)), bus_image, targets
    )
    image, moved = op.apply(bus_image, targets, drawn)
    assert image.tobytes() == expected_image
    assert [(box.x1, box.y1, box.x2, box.y2) for box in moved.boxes if box is not None] == expected_boxes
    assert [action.point for action in moved.actions if action is not None] == expected_points
    assert (moved.width, moved.height) == (image.shape[1], image.shape[0])


def transform_state(transform) -> tuple[str, dict]:
    """Everything a transform holds but its generators (seeded by whoever applies it), its target functions by name."""
    attributes = {
        key: value for key, value in vars(transform).items() if key not in ("random_generator", "py_random", "seed", "_key2func")
    }
    bound = {key: (function.__func__, function.__self__ is transform) for key, function in transform._key2func.items()}
    return repr(attributes), bound


@pytest.mark.parametrize(("name", "params"), OP_TABLE)
def test_transforms_copied_from_a_template_equal_freshly_built_ones(name, params, monkeypatch) -> None:
    # functional.build_transform validates once per class and copies after: the copies must be what albumentations builds
    op = build_op(name, params)
    for seed in range(8):
        drawn = op.sample(np.random.default_rng(seed))
        TRANSFORM_TEMPLATES.clear()
        try:
            op.transforms(op.sample(np.random.default_rng(100 + seed)), 640, 329)  # templates from other values
        except NotImplementedError:  # the op applies itself without albumentations
            return
        copied = op.transforms(drawn, 640, 329)
        with monkeypatch.context() as patched:
            patched.setattr(sys.modules[type(op).__module__], "build_transform", lambda cls, **kwargs: cls(**kwargs))
            fresh = op.transforms(drawn, 640, 329)
        assert [transform_state(t) for t in copied] == [transform_state(t) for t in fresh]
        assert all(bound_to_itself for t in copied for _, bound_to_itself in transform_state(t)[1].values())


def test_a_transform_whose_arguments_albumentations_converts_is_built_afresh() -> None:
    import albumentations as A

    TRANSFORM_TEMPLATES.clear()
    first = build_transform(
        A.CoarseDropout, num_holes_range=(1, 1), hole_height_range=(0.1, 0.1), hole_width_range=(0.1, 0.1), fill=0
    )
    second = build_transform(
        A.CoarseDropout, num_holes_range=(2, 2), hole_height_range=(0.2, 0.2), hole_width_range=(0.3, 0.3), fill=0
    )
    assert TRANSFORM_TEMPLATES[(A.CoarseDropout, ("fill", "hole_height_range", "hole_width_range", "num_holes_range"))] is None
    assert (first.fill, second.fill) == (0.0, 0.0)  # albumentations stores the int fill as a float
    assert (second.num_holes_range, second.hole_height_range) == ((2, 2), (0.2, 0.2))


def test_a_copied_transform_shares_no_running_state_with_its_template(bus_image) -> None:
    import albumentations as A

    TRANSFORM_TEMPLATES.clear()
    build_transform(A.GaussNoise, std_range=(0.1, 0.1), p=1.0)
    template = TRANSFORM_TEMPLATES[(A.GaussNoise, ("p", "std_range"))]
    copied = build_transform(A.GaussNoise, std_range=(0.05, 0.05), p=1.0)
    A.Compose([copied], bbox_params=A.BboxParams(format="pascal_voc"), seed=3)(image=bus_image.copy(), bboxes=np.zeros((0, 4)))
    assert copied.std_range == (0.05, 0.05) and template.std_range == (0.1, 0.1)
    assert copied.params and not template.params
    assert copied.processors and not template.processors
