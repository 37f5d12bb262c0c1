"""Box conventions: every conversion in and out of vlforge's absolute ``x1, y1, x2, y2``, with hand-computed values."""

from __future__ import annotations

import ast
import importlib.util
import math
from pathlib import Path

import pytest

from vlforge.geometry import (
    coco_xywh_to_xyxy,
    label_studio_percent_to_xyxy,
    smart_resize,
    xyxy_to_label_studio_percent,
    xyxy_to_qwen_vl_1000,
    xyxy_to_relative_1000,
    xyxy_to_resized_absolute,
    yolo_cxcywh_to_xyxy,
)

# The COCO photo of the official Qwen finetune demo (qwen3vl_finetune/demo/images) is 640x428, and
# tools/process_bbox.ipynb converts its "bowl of carrots" box [146, 137, 615, 415] for every generation.
COCO_W, COCO_H = 640, 428
CARROTS = (146.0, 137.0, 615.0, 415.0)
QWEN2_5_VL_DEFAULTS = {"factor": 28, "min_pixels": 4 * 28 * 28, "max_pixels": 16384 * 28 * 28}


# --- Label Studio percent ----------------------------------------------------------------------------------


def test_label_studio_percent_to_pixels() -> None:
    # 500x320 image; x=10%, y=25%, width=50%, height=50%
    assert label_studio_percent_to_xyxy(10, 25, 50, 50, 500, 320) == (
        0.10 * 500,  # 50
        0.25 * 320,  # 80
        0.10 * 500 + 0.50 * 500,  # 300
        0.25 * 320 + 0.50 * 320,  # 240
    )


def test_label_studio_percent_round_trip() -> None:
    box = (50.0, 80.0, 300.0, 240.0)
    percent = xyxy_to_label_studio_percent(box, 500, 320)
    assert percent == pytest.approx((50 / 500 * 100, 80 / 320 * 100, 250 / 500 * 100, 160 / 320 * 100))  # 10, 25, 50, 50
    assert label_studio_percent_to_xyxy(*percent, 500, 320) == pytest.approx(box)


def test_label_studio_full_image() -> None:
    assert label_studio_percent_to_xyxy(0, 0, 100, 100, 2800, 2800) == (0.0, 0.0, 2800.0, 2800.0)


# --- COCO xywh ----------------------------------------------------------------------------------------------


def test_coco_xywh_to_xyxy() -> None:
    assert coco_xywh_to_xyxy(146, 137, 469, 278) == (146, 137, 146 + 469, 137 + 278)  # (146, 137, 615, 415)


def test_coco_zero_size_box_stays_a_point() -> None:
    assert coco_xywh_to_xyxy(10.5, 20.25, 0, 0) == (10.5, 20.25, 10.5, 20.25)


# --- YOLO normalised centre/size ----------------------------------------------------------------------------


def test_yolo_cxcywh_to_xyxy() -> None:
    # 640x480, centre (0.5, 0.5), size (0.25, 0.5): centre (320, 240), half size (80, 120)
    assert yolo_cxcywh_to_xyxy(0.5, 0.5, 0.25, 0.5, 640, 480) == (320 - 80, 240 - 120, 320 + 80, 240 + 120)


def test_yolo_label_from_label_studio_converter_fixture(fixtures_dir: Path) -> None:
    folder = fixtures_dir / "label_studio_converter/tests/data/test_import_yolo_data_unif_dims"
    classes = (folder / "classes.txt").read_text().split()
    lines = (folder / "labels/img_1.txt").read_text().splitlines()
    class_id, cx, cy, width, height = lines[1].split()
    assert classes[int(class_id)] == "number"
    # img_1.jpg is 640x329: centre (0.2890625 * 640, 0.1656534954... * 329) = (185, 54.5),
    # size (0.071875 * 640, 0.1367781155... * 329) = (46, 45)
    box = yolo_cxcywh_to_xyxy(float(cx), float(cy), float(width), float(height), 640, 329)
    assert box == pytest.approx((185 - 46 / 2, 54.5 - 45 / 2, 185 + 46 / 2, 54.5 + 45 / 2), abs=1e-9)  # (162, 32, 208, 77)


# --- Qwen-VL (first generation): integers in [0, 1000), floor ---------------------------------------------


def test_qwen_vl_1000_floors() -> None:
    # 146/640*1000 = 228.125, 137/428*1000 = 320.09.., 615/640*1000 = 960.9375, 415/428*1000 = 969.63..
    assert xyxy_to_qwen_vl_1000(CARROTS, COCO_W, COCO_H) == (228, 320, 960, 969)


def test_qwen_vl_1000_is_below_1000_at_the_far_edge() -> None:
    # 640/640*1000 = 1000 is outside [0, 1000): it becomes 999; negatives become 0
    assert xyxy_to_qwen_vl_1000((-3.0, 0.0, 640.0, 428.0), COCO_W, COCO_H) == (0, 0, 999, 999)


# --- Qwen2-VL / Qwen3-VL: relative 0..1000, round ---------------------------------------------------------


def test_relative_1000_matches_process_bbox_notebook() -> None:
    # the notebook prints [228, 320, 961, 970]: 228.125 -> 228, 320.09 -> 320, 960.9375 -> 961, 969.63 -> 970
    assert xyxy_to_relative_1000(CARROTS, COCO_W, COCO_H) == (228, 320, 961, 970)


def test_relative_1000_clamps_to_0_and_1000() -> None:
    assert xyxy_to_relative_1000((-10.0, -0.4, 700.0, 428.0), COCO_W, COCO_H) == (0, 0, 1000, 1000)


def test_relative_1000_rounds_float_ties_as_the_official_expression() -> None:
    # round(203 / 400 * 1000) == round(507.49999999999994) == 507 (203 * 1000 / 400 would give 507.5 -> 508)
    assert xyxy_to_relative_1000((203.0, 0.0, 400.0, 400.0), 400, 400) == (507, 0, 1000, 1000)


# --- Qwen2.5-VL: absolute pixels on the smart-resized image ------------------------------------------------


def test_resized_absolute_matches_process_bbox_notebook() -> None:
    # smart_resize(428, 640) = (420, 644); x * 644/640, y * 420/428:
    # 146 * 1.00625 = 146.91 -> 147, 137 * 0.98131 = 134.44 -> 134,
    # 615 * 1.00625 = 618.84 -> 619, 415 * 0.98131 = 407.24 -> 407
    height, width = smart_resize(COCO_H, COCO_W, **QWEN2_5_VL_DEFAULTS)
    assert (width, height) == (644, 420)
    assert xyxy_to_resized_absolute(CARROTS, COCO_W, COCO_H, width, height) == (147, 134, 619, 407)


def test_resized_absolute_clamps_to_last_pixel() -> None:
    # the notebook clamps to [0, new - 1]: the far edge 640 * 644/640 = 644 becomes 643, 428 * 420/428 = 420 becomes 419
    assert xyxy_to_resized_absolute((-2.0, 0.0, 640.0, 428.0), COCO_W, COCO_H, 644, 420) == (0, 0, 643, 419)


def test_resized_absolute_rounds_float_ties_as_the_official_expression() -> None:
    # round(85 * (420 / 408)) == round(87.49999999999999) == 87 (85 * 420 / 408 would give 87.5 -> 88)
    assert xyxy_to_resized_absolute((85.0, 0.0, 408.0, 408.0), 408, 408, 420, 420) == (87, 0, 419, 419)


def test_gui_click_on_phone_screenshot() -> None:
    # Qwen2.5-VL mobile_use addresses a 1080x2400 screen as 1092x2408: x * 1092/1080, y * 2408/2400
    height, width = smart_resize(2400, 1080, **QWEN2_5_VL_DEFAULTS)
    assert (width, height) == (1092, 2408)
    # (540, 1200) -> (546, 1204); (1080, 2400) is the far corner -> (1091, 2407)
    assert xyxy_to_resized_absolute((540.0, 1200.0, 1080.0, 2400.0), 1080, 2400, width, height) == (546, 1204, 1091, 2407)


# --- smart_resize ------------------------------------------------------------------------------------------

# (height, width, factor, min_pixels, max_pixels) -> (new_height, new_width), every value by hand
SMART_RESIZE_CASES = [
    # COCO photo: 428/28 = 15.29 -> 15*28 = 420; 640/28 = 22.86 -> 23*28 = 644; 420*644 = 270480 within limits
    ((428, 640, 28, 3136, 12845056), (420, 644)),
    # phone screenshot 1080x2400: 2400/28 = 85.71 -> 86*28 = 2408; 1080/28 = 38.57 -> 39*28 = 1092
    ((2400, 1080, 28, 3136, 12845056), (2408, 1092)),
    # same screen, max_pixels 14*14*4*1280 = 1003520 < 2408*1092 = 2629536:
    # beta = sqrt(2400*1080 / 1003520) = 45/28; 2400*28/45 = 1493.3 -> floor(53.3)*28 = 1484; 1080*28/45 = 672 -> 24*28
    ((2400, 1080, 28, 3136, 1003520), (1484, 672)),
    # 4000x3000 over the same max: beta = sqrt(12e6 / 1003520) = 3.458;
    # 4000/beta = 1156.7 -> floor(41.3)*28 = 1148; 3000/beta = 867.5 -> floor(30.98)*28 = 840
    ((4000, 3000, 28, 3136, 1003520), (1148, 840)),
    # tiny 30x20 under min_pixels 3136: 28*28 = 784 < 3136, beta = sqrt(3136 / 600) = 2.286;
    # 20*2.286 = 45.7 -> ceil(1.63)*28 = 56; 30*2.286 = 68.6 -> ceil(2.45)*28 = 84
    ((20, 30, 28, 3136, 1003520), (56, 84)),
    # aspect ratio exactly 200 is allowed: round(10/28) = 0 -> at least 28; 2000/28 = 71.4 -> 71*28 = 1988
    ((10, 2000, 28, 3136, 12845056), (28, 1988)),
    # Qwen3-VL factor 32: 428/32 = 13.4 -> 13*32 = 416; 640/32 = 20 -> 640
    ((428, 640, 32, 4 * 32 * 32, 16384 * 32 * 32), (416, 640)),
]


@pytest.mark.parametrize(("arguments", "expected"), SMART_RESIZE_CASES)
def test_smart_resize(arguments: tuple[int, int, int, int, int], expected: tuple[int, int]) -> None:
    height, width, factor, min_pixels, max_pixels = arguments
    new_height, new_width = smart_resize(height, width, factor, min_pixels, max_pixels)
    assert (new_height, new_width) == expected
    assert new_height % factor == 0 and new_width % factor == 0
    assert min_pixels <= new_height * new_width <= max_pixels


def test_smart_resize_returns_height_then_width() -> None:
    # a portrait screen (width 1080, height 2400) stays portrait
    assert smart_resize(height=2400, width=1080) == (2408, 1092)
    assert smart_resize(2400, 1080) == (2408, 1092)


@pytest.mark.parametrize(("height", "width"), [(10, 2001), (2001, 10), (1, 201)])
def test_smart_resize_rejects_extreme_aspect_ratio(height: int, width: int) -> None:
    with pytest.raises(ValueError, match="aspect ratio"):
        smart_resize(height, width)


def _official_smart_resize():  # type: ignore[no-untyped-def]
    """``smart_resize`` as the installed transformers Qwen2-VL image processor defines it, or ``None``.

    Read from its source, because importing that module needs torchvision.
    """
    spec = importlib.util.find_spec("transformers")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(spec.submodule_search_locations[0]) / "models/qwen2_vl/image_processing_qwen2_vl.py"
    if not path.is_file():
        return None
    tree = ast.parse(path.read_text(encoding="utf-8"))
    function = next(
        (node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "smart_resize"), None
    )
    if function is None:
        return None
    namespace: dict[str, object] = {"math": math}
    exec(compile(ast.Module(body=[function], type_ignores=[]), str(path), "exec"), namespace)  # noqa: S102
    return namespace["smart_resize"]


@pytest.mark.parametrize("max_pixels", [256 * 28 * 28, 1003520, 16384 * 28 * 28])
def test_smart_resize_equals_the_processor_rule_on_a_grid(max_pixels: int) -> None:
    official = _official_smart_resize()
    if official is None:
        pytest.skip("transformers' Qwen2-VL image processor is not installed")
    sizes = [28, 100, 329, 428, 640, 720, 1080, 1280, 1349, 1640, 2360, 2400, 4032]
    for height in sizes:
        for width in sizes:
            expected = official(height, width, 28, 3136, max_pixels)
            assert smart_resize(height, width, 28, 3136, max_pixels) == expected, (height, width, max_pixels)
