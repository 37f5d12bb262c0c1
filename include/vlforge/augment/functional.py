"""Pure helpers shared by the augmentation ops: run albumentations over ``Targets``, crop windows, shadows.

Every function copies its input and handles empty target lists. Randomness never happens here:
albumentations' own internal draws (noise pixels, hole positions, perspective corners, the order of
colour-jitter steps) are fixed by the ``seed`` passed to ``A.Compose``; albumentations 2.x keeps its
own ``numpy.random.Generator`` and ``random.Random`` per Compose, seeded from that argument, so a
freshly built Compose with the same seed and the same fixed-range transforms gives byte-identical
output.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from vlforge.augment.targets import XYXY, Targets
from vlforge.records import Box

# albumentations normalises boxes in float32 on the way, which leaves ~1e-7 px noise; boxes are
# rounded to this many decimals so that a flip of an integer box gives integers again.
BOX_DECIMALS = 4


def load_albumentations() -> Any:
    """Import albumentations without its PyTorch transforms; the op registry calls it before any op imports it.

    albumentations 2.0.8 imports ``albumentations.pytorch`` (``ToTensorV2``), and with it torch, whenever
    torch is installed: about 2 s on an idle machine and over 10 s on a loaded one, paid by every
    Airflow task process that augments, for a transform vlforge never uses. The import is blocked
    for that one moment (albumentations itself skips it on ``ImportError``) and unblocked after, so
    code that wants ``albumentations.pytorch`` can still import it. Where torch is already loaded
    nothing is saved and nothing is blocked.
    """
    if "albumentations" in sys.modules:
        return sys.modules["albumentations"]
    block = "torch" not in sys.modules and "albumentations.pytorch" not in sys.modules
    if block:
        sys.modules["albumentations.pytorch"] = None  # type: ignore[assignment]  (import of it raises ImportError)
    try:
        import albumentations
    finally:
        if block:
            del sys.modules["albumentations.pytorch"]
    return albumentations


# Per transform class and set of argument names: a validated transform to copy, or None where copying is not safe.
TRANSFORM_TEMPLATES: dict[tuple[type, tuple[str, ...]], Any] = {}


def build_transform(cls: type, **kwargs: Any) -> Any:
    """``cls(**kwargs)`` for an op's albumentations transform, validated once per class and argument names.

    An op builds new transforms at every application (its drawn values become zero-width ranges), and
    building one costs 0.1-0.3 ms: albumentations validates the arguments with pydantic, reads
    ``__init__``'s signature and seeds two generators from the OS. Over a copy's four or five ops that is
    a tenth of the augment stage, which a loop over one ``A.Compose`` never pays. So the first call for a
    class and a set of argument names builds the transform and keeps it as a template; later calls copy
    the template's attributes, set the arguments, and bind the transform's target functions to the copy.
    The result equals ``cls(**kwargs)`` attribute for attribute because a template is kept only when
    albumentations stored every argument unchanged (same value, same types) under its own name; a class
    that converts one (a scalar into a range, ints into floats) is built afresh every time. State that
    ``__init__`` derives from an argument under another name would escape that check: the op contract
    tests compare the copies with freshly built transforms over the whole op table. The generators are not
    reset here: whoever applies a transform seeds it first (``run_albumentations``, ``A.Compose``).

    Returns:
        A new transform, equal to ``cls(**kwargs)``.
    """
    key = (cls, tuple(sorted(kwargs)))
    if key not in TRANSFORM_TEMPLATES:
        built = cls(**kwargs)
        stored = vars(built)
        unchanged = all(name in stored and _same_value(stored[name], value) for name, value in kwargs.items())
        TRANSFORM_TEMPLATES[key] = built if unchanged else None
    template = TRANSFORM_TEMPLATES[key]
    if template is None:
        return cls(**kwargs)
    transform = cls.__new__(cls)
    transform.__dict__.update(vars(template))
    transform.__dict__.update(kwargs)
    # the mutable state a transform writes while it runs or joins a Compose is its own, never the template's
    transform.params = {}
    transform.processors = {}
    transform._additional_targets = {}
    transform._set_keys()  # binds the target functions (``apply``, ``apply_to_bboxes``, ...) to this transform
    return transform


def _same_value(stored: Any, given: Any) -> bool:
    if type(stored) is not type(given):
        return False
    if isinstance(given, (tuple, list)):
        return len(stored) == len(given) and all(_same_value(a, b) for a, b in zip(stored, given))
    if isinstance(given, dict):
        return stored.keys() == given.keys() and all(_same_value(stored[key], given[key]) for key in given)
    return bool(stored == given)


def run_albumentations(
    image: np.ndarray,
    targets: Targets,
    transforms: list[Any],
    *,
    seed: int,
    min_visibility: float,
    op_name: str,
) -> tuple[np.ndarray, Targets]:
    """Apply ``transforms`` (albumentations, p=1, fixed ranges) to the image and every target together.

    Boxes go through ``BboxParams(format="pascal_voc", clip=True, min_visibility=...)``: a box whose
    visible share after the op falls under ``min_visibility`` (or that shrinks under 1 px) is lost.
    GUI action points go through ``KeypointParams(format="xy", remove_invisible=True)``; note that
    albumentations maps a point to pixel indices (a horizontal flip sends x to ``W - 1 - x``) while a
    box edge goes to ``W - x``.

    Args:
        image: HxWxC uint8 array (not modified).
        targets: the boxes, lines, actions and text boxes on that image.
        transforms: albumentations transforms built with p=1 and zero-width ranges.
        seed: seed for albumentations' internal draws.
        min_visibility: the share of a box's area that must stay visible.
        op_name: named in ``Targets.lost`` entries.

    Returns:
        The new image and the moved targets (lost ones ``None``).
    """
    import albumentations as A

    boxes: list[XYXY] = []
    box_ids: list[str] = []
    points: list[tuple[float, float]] = []
    point_ids: list[str] = []
    for i, box in enumerate(targets.boxes):
        if box is not None:
            boxes.append((box.x1, box.y1, box.x2, box.y2))
            box_ids.append(f"boxes:{i}")
    for i, line in enumerate(targets.ocr_lines):
        if line is not None and line.box is not None:
            boxes.append((line.box.x1, line.box.y1, line.box.x2, line.box.y2))
            box_ids.append(f"ocr_lines:{i}")
    for i, action in enumerate(targets.actions):
        if action is None:
            continue
        if action.box is not None:
            boxes.append((action.box.x1, action.box.y1, action.box.x2, action.box.y2))
            box_ids.append(f"actions:{i}")
        if action.point is not None:
            points.append((float(action.point[0]), float(action.point[1])))
            point_ids.append(f"actions:{i}")
    for i, text_box in enumerate(targets.text_boxes):
        if text_box is not None:
            boxes.append(text_box)
            box_ids.append(f"text_boxes:{i}")

    if not (boxes or points) or all(isinstance(transform, A.ImageOnlyTransform) for transform in transforms):
        # Nothing to move, or pixels only: each transform is seeded as ``A.Compose(seed=...)`` seeds its
        # children and called directly, without a Compose and its box and keypoint processing (most of a
        # light op's cost); the bytes are the same as through the Compose (checked per op).
        out = image.copy()
        for transform in transforms:
            transform.set_random_seed(seed)
            out = transform(image=out)["image"]
        out = np.ascontiguousarray(out)
        height, width = out.shape[:2]
        if (width, height) == (targets.width, targets.height):
            return out, targets
        return out, rebuild_targets(targets, width, height, {}, {}, op_name, min_visibility)
    # Only the processors there is something for: a keypoint processor with no point to move cost as much
    # as the box one (the bytes and boxes are the same without it, checked per op).
    data: dict[str, Any] = {"image": image.copy()}
    if boxes:
        data.update(bboxes=np.asarray(boxes, dtype=np.float64).reshape(-1, 4), box_ids=box_ids)
    if points:
        data.update(keypoints=np.asarray(points, dtype=np.float64).reshape(-1, 2), point_ids=point_ids)
    result = _compose(A, transforms, min_visibility, seed, boxes=bool(boxes), points=bool(points))(**data)
    out_image = np.ascontiguousarray(result["image"])
    height, width = out_image.shape[:2]
    moved = {
        key: _rounded(row) for key, row in zip(result.get("box_ids", ()), np.asarray(result.get("bboxes", ())).reshape(-1, 4))
    }
    moved_points = {
        key: (round(float(row[0]), BOX_DECIMALS), round(float(row[1]), BOX_DECIMALS))
        for key, row in zip(result.get("point_ids", ()), np.asarray(result.get("keypoints", ())).reshape(-1, 2)[:, :2])
    }
    return out_image, rebuild_targets(targets, width, height, moved, moved_points, op_name, min_visibility)


def _compose(A: Any, transforms: list[Any], min_visibility: float, seed: int, *, boxes: bool, points: bool) -> Any:
    bbox_params = A.BboxParams(
        format="pascal_voc", label_fields=["box_ids"], clip=True, min_visibility=min_visibility, min_width=1.0, min_height=1.0
    )
    keypoint_params = A.KeypointParams(format="xy", label_fields=["point_ids"], remove_invisible=True)
    return A.Compose(
        transforms, bbox_params=bbox_params if boxes else None, keypoint_params=keypoint_params if points else None, seed=seed
    )


def _rounded(row: np.ndarray) -> XYXY:
    x1, y1, x2, y2 = (round(float(v), BOX_DECIMALS) for v in row[:4])
    return (x1, y1, x2, y2)


def rebuild_targets(
    targets: Targets,
    width: int,
    height: int,
    moved: dict[str, XYXY],
    moved_points: dict[str, tuple[float, float]],
    op_name: str,
    min_visibility: float,
) -> Targets:
    """Put moved coordinates back into records; an item whose box or point is missing becomes ``None``."""
    lost: list[str] = list(targets.lost)
    why = f"visible share below {min_visibility} (or under 1 px) after {op_name}"

    def moved_box(key: str, old: Box) -> Box | None:
        if key not in moved:
            return None
        x1, y1, x2, y2 = moved[key]
        return old.model_copy(update={"x1": x1, "y1": y1, "x2": x2, "y2": y2})

    boxes: list[Box | None] = []
    for i, box in enumerate(targets.boxes):
        new = moved_box(f"boxes:{i}", box) if box is not None else None
        if box is not None and new is None:
            lost.append(f"boxes[{i}] {box.label!r}: {why}")
        boxes.append(new)
    lines = []
    for i, line in enumerate(targets.ocr_lines):
        if line is None or line.box is None:
            lines.append(line)
            continue
        new_box = moved_box(f"ocr_lines:{i}", line.box)
        if new_box is None:
            lost.append(f"ocr_lines[{i}] {line.text!r}: {why}")
            lines.append(None)
        else:
            lines.append(line.model_copy(update={"box": new_box}))
    actions = []
    for i, action in enumerate(targets.actions):
        if action is None:
            actions.append(None)
            continue
        update: dict[str, Any] = {}
        gone = False
        if action.box is not None:
            new_box = moved_box(f"actions:{i}", action.box)
            gone |= new_box is None
            update["box"] = new_box
        if action.point is not None:
            gone |= f"actions:{i}" not in moved_points
            update["point"] = moved_points.get(f"actions:{i}")
        if gone:
            lost.append(f"actions[{i}] {action.type!r}: target {why}")
            actions.append(None)
        else:
            actions.append(action.model_copy(update=update))
    text_boxes = []
    for i, text_box in enumerate(targets.text_boxes):
        new_text_box = moved.get(f"text_boxes:{i}") if text_box is not None else None
        if text_box is not None and new_text_box is None:
            lost.append(f"text_boxes[{i}] {text_box}: {why}")
        text_boxes.append(new_text_box)
    return Targets(
        width=width,
        height=height,
        boxes=tuple(boxes),
        ocr_lines=tuple(lines),
        actions=tuple(actions),
        text_boxes=tuple(text_boxes),
        lost=tuple(lost),
    )


def crop_window(
    width: int, height: int, x_min_frac: float, y_min_frac: float, width_frac: float, height_frac: float
) -> tuple[int, int, int, int]:
    """A crop window in pixels from fractions of the image: ``x_min = round(x_min_frac * W)``.

    ``x_max = min(W, x_min + max(1, round(width_frac * W)))`` and likewise for y.
    """
    x_min = min(width - 1, max(0, round(x_min_frac * width)))
    y_min = min(height - 1, max(0, round(y_min_frac * height)))
    x_max = min(width, x_min + max(1, round(width_frac * width)))
    y_max = min(height, y_min + max(1, round(height_frac * height)))
    return x_min, y_min, x_max, y_max


def crop_fractions(scale: float, ratio: float, u: float, v: float) -> tuple[float, float, float, float]:
    """A crop of ``scale`` of the image area whose aspect is the image's times ``ratio``.

    ``width_frac = sqrt(scale * ratio)``, ``height_frac = sqrt(scale / ratio)`` (each at most 1),
    placed at ``u``, ``v`` in ``[0, 1]`` of the room left: ``x_min_frac = u * (1 - width_frac)``.
    """
    width_frac = min(1.0, math.sqrt(scale * ratio))
    height_frac = min(1.0, math.sqrt(scale / ratio))
    return u * (1.0 - width_frac), v * (1.0 - height_frac), width_frac, height_frac


def shadow_gradient(image: np.ndarray, angle_deg: float, strength: float) -> np.ndarray:
    """Darken the image along a linear gradient: full light on one side, ``1 - strength`` on the other.

    The factor at pixel ``(x, y)`` is ``1 - strength * t`` with ``t`` the pixel's position in ``[0, 1]``
    along the direction ``angle_deg`` (0 = left to right, 90 = top to bottom). Returns a new uint8 array.
    """
    height, width = image.shape[:2]
    if strength == 0 or height == 0 or width == 0:
        return image.copy()
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    direction = (math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg)))
    along = xs * direction[0] + ys * direction[1]
    span = float(along.max() - along.min())
    t = (along - along.min()) / span if span > 0 else np.zeros_like(along)
    factor = 1.0 - strength * t
    if image.ndim == 3:
        factor = factor[:, :, None]
    return np.clip(np.rint(image.astype(np.float64) * factor), 0, 255).astype(np.uint8)


# A box's outline is sampled this often (pixels) when a non-linear map moves it.
OUTLINE_STEP = 0.5
PointMap = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def map_targets(targets: Targets, width: int, height: int, point_map: PointMap, op_name: str, min_visibility: float) -> Targets:
    """Move every target with ``point_map`` onto a ``width`` x ``height`` image.

    A box becomes the bounding box of its mapped outline (edges sampled every ``OUTLINE_STEP`` px),
    clipped to the image; it is lost when the clipped share of that bounding box is under
    ``min_visibility`` or it is under 1 px. A point is mapped and lost when it leaves the image.
    For a continuous one-to-one map the outline bounds the whole mapped box.
    """
    moved: dict[str, XYXY] = {}
    points: dict[str, tuple[float, float]] = {}

    def move_box(key: str, box: XYXY) -> None:
        x1, y1, x2, y2 = box
        nx = max(2, math.ceil((x2 - x1) / OUTLINE_STEP) + 1)
        ny = max(2, math.ceil((y2 - y1) / OUTLINE_STEP) + 1)
        along_x, along_y = np.linspace(x1, x2, nx), np.linspace(y1, y2, ny)
        xs = np.concatenate([along_x, along_x, np.full(ny, x1), np.full(ny, x2)])
        ys = np.concatenate([np.full(nx, y1), np.full(nx, y2), along_y, along_y])
        mx, my = point_map(xs, ys)
        full = (float(mx.min()), float(my.min()), float(mx.max()), float(my.max()))
        clipped = (max(0.0, full[0]), max(0.0, full[1]), min(float(width), full[2]), min(float(height), full[3]))
        area = (full[2] - full[0]) * (full[3] - full[1])
        kept = max(0.0, clipped[2] - clipped[0]) * max(0.0, clipped[3] - clipped[1])
        if clipped[2] - clipped[0] >= 1 and clipped[3] - clipped[1] >= 1 and area > 0 and kept / area >= min_visibility:
            moved[key] = _rounded(np.asarray(clipped))

    def move_point(key: str, point: tuple[float, float]) -> None:
        mx, my = point_map(np.asarray([point[0]], dtype=np.float64), np.asarray([point[1]], dtype=np.float64))
        x, y = float(mx[0]), float(my[0])
        if 0 <= x <= width and 0 <= y <= height:
            points[key] = (round(x, BOX_DECIMALS), round(y, BOX_DECIMALS))

    for i, box in enumerate(targets.boxes):
        if box is not None:
            move_box(f"boxes:{i}", (box.x1, box.y1, box.x2, box.y2))
    for i, line in enumerate(targets.ocr_lines):
        if line is not None and line.box is not None:
            move_box(f"ocr_lines:{i}", (line.box.x1, line.box.y1, line.box.x2, line.box.y2))
    for i, action in enumerate(targets.actions):
        if action is not None and action.box is not None:
            move_box(f"actions:{i}", (action.box.x1, action.box.y1, action.box.x2, action.box.y2))
        if action is not None and action.point is not None:
            move_point(f"actions:{i}", action.point)
    for i, text_box in enumerate(targets.text_boxes):
        if text_box is not None:
            move_box(f"text_boxes:{i}", text_box)
    return rebuild_targets(targets, width, height, moved, points, op_name, min_visibility)
