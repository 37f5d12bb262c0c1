"""The Qwen-VL backend loads a real (tiny, random) Qwen2-VL folder offline, prompts it and parses its answers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from vlforge.geometry import smart_resize
from vlforge.preannotate.config import VlmConfig
from vlforge.preannotate.vlm import GROUNDING_PROMPTS, QwenVlm, VlmError, load_processor, shared_vlm

CAT = "images_from_wheels/skimage/chelsea.png"  # 451x300


@pytest.fixture(scope="module")
def vlm(tiny_qwen: Path) -> QwenVlm:
    return QwenVlm(VlmConfig(model_path=str(tiny_qwen), max_new_tokens=24))


def test_the_tiny_folder_looks_like_a_released_checkpoint(tiny_qwen: Path) -> None:
    names = {path.name for path in tiny_qwen.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "chat_template.jinja", "preprocessor_config.json"} <= names
    assert json.loads((tiny_qwen / "config.json").read_text())["model_type"] == "qwen2_vl"
    assert json.loads((tiny_qwen / "preprocessor_config.json").read_text())["processor_class"] == "Qwen2VLProcessor"


def test_the_prompt_has_one_image_placeholder_per_merged_patch(tiny_qwen: Path, fixtures_dir: Path) -> None:
    processor = load_processor(tiny_qwen, VlmConfig(model_path=str(tiny_qwen)))
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Describe this image."}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert text.endswith("<|vision_start|><|image_pad|><|vision_end|>Describe this image.<|im_end|>\n<|im_start|>assistant\n")
    with Image.open(fixtures_dir / CAT) as image:
        inputs = processor(text=[text], images=[image.convert("RGB")], return_tensors="pt")
    grid = [int(value) for value in inputs["image_grid_thw"][0]]
    image_pad = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert int((inputs["input_ids"][0] == image_pad).sum()) == grid[0] * grid[1] * grid[2] // 4
    assert int(inputs["mm_token_type_ids"].sum()) == grid[0] * grid[1] * grid[2] // 4


def test_answers_come_from_greedy_generation_on_the_resized_image(vlm: QwenVlm, fixtures_dir: Path) -> None:
    with Image.open(fixtures_dir / CAT) as image:
        first = vlm.ask(image, "Describe this image.")
        again = vlm.ask(image, "Describe this image.")
    assert first == again  # greedy: deterministic
    assert isinstance(first.text, str) and "<|im_end|>" not in first.text
    # The processor resized 451x300 as vlforge.geometry.smart_resize does, with its own pixel limits.
    resized_h, resized_w = smart_resize(300, 451, factor=28, min_pixels=56 * 56, max_pixels=28 * 28 * 16)
    assert first.resized_size == (resized_w, resized_h) == (112, 84)


def test_caption_and_grounding_are_well_formed_whatever_the_random_model_says(vlm: QwenVlm, fixtures_dir: Path) -> None:
    with Image.open(fixtures_dir / CAT) as image:
        caption = vlm.caption(image)
        boxes = vlm.ground(image)
    assert isinstance(caption, str) and "<|" not in caption
    for box in boxes:
        assert 0 <= box.x1 < box.x2 <= 451 and 0 <= box.y1 < box.y2 <= 300


def test_the_model_is_loaded_once_on_first_use(tiny_qwen: Path, fixtures_dir: Path) -> None:
    config = VlmConfig(model_path=str(tiny_qwen), max_new_tokens=4, caption_prompt="What is this?")
    backend = shared_vlm(config)
    assert backend is shared_vlm(config)
    assert backend._model is None  # nothing loaded by construction
    with Image.open(fixtures_dir / CAT) as image:
        backend.caption(image)
        model = backend._model
        backend.caption(image)
    assert model is not None and backend._model is model


def test_backend_and_model_version_come_from_config_json(vlm: QwenVlm, tiny_qwen: Path) -> None:
    assert vlm.backend == "qwen2_vl" and vlm.model_version == f"qwen2_vl:{tiny_qwen.name}"
    forced = QwenVlm(VlmConfig(model_path=str(tiny_qwen), backend="qwen2_5_vl"))
    assert forced.backend == "qwen2_5_vl" and "JSON" in GROUNDING_PROMPTS[forced.backend]


def test_pixel_limits_from_the_recipe_override_the_processor(tiny_qwen: Path, fixtures_dir: Path) -> None:
    small = QwenVlm(VlmConfig(model_path=str(tiny_qwen), max_new_tokens=2, max_pixels=28 * 28 * 4))
    with Image.open(fixtures_dir / CAT) as image:
        assert small.ask(image, "hi").resized_size == (56, 28)


def test_folders_that_are_not_qwen_vl_models_are_refused(tmp_path: Path, tiny_qwen: Path) -> None:
    with pytest.raises(VlmError, match="has no config.json"):
        QwenVlm(VlmConfig(model_path=str(tmp_path)))
    other = tmp_path / "llava"
    shutil.copytree(tiny_qwen, other)
    (other / "config.json").write_text(json.dumps({"model_type": "llava"}))
    with pytest.raises(VlmError, match=r"'llava' .* supported: \['qwen2_5_vl', 'qwen2_vl', 'qwen3_vl', 'qwen3_vl_moe'\]"):
        QwenVlm(VlmConfig(model_path=str(other)))
    with pytest.raises(VlmError, match="model_path is not set"):
        QwenVlm(VlmConfig())
