"""The Qwen-VL backend loads real (tiny, random) Qwen2-VL, Qwen2.5-VL and Qwen3-VL folders offline, prompts them and parses their answers."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image
from support.tiny_qwen_vl import GENERATIONS, Generation, build_tiny_qwen_vl

from vlforge.geometry import smart_resize
from vlforge.preannotate.config import VlmConfig
from vlforge.preannotate.vlm import GROUNDING_PROMPTS, Answer, QwenVlm, VlmError, load_processor, shared_vlm

# Builds and runs tiny random Qwen-VL models of three generations.
pytestmark = pytest.mark.slow

CAT = "images_from_wheels/skimage/chelsea.png"  # 451x300

# generation -> what a released checkpoint of it names, and how the tiny one resizes the cat.
MODEL_CLASSES = {
    "qwen2_vl": "Qwen2VLForConditionalGeneration",
    "qwen2_5_vl": "Qwen2_5_VLForConditionalGeneration",
    "qwen3_vl": "Qwen3VLForConditionalGeneration",
}
PROCESSOR_CLASSES = {"qwen2_vl": "Qwen2VLProcessor", "qwen2_5_vl": "Qwen2_5_VLProcessor", "qwen3_vl": "Qwen3VLProcessor"}
PATCH_SIZES = {"qwen2_vl": 14, "qwen2_5_vl": 14, "qwen3_vl": 16}
CAT_RESIZED = {"qwen2_vl": (112, 84), "qwen2_5_vl": (112, 84), "qwen3_vl": (128, 96)}


@pytest.fixture(scope="module", params=GENERATIONS)
def generation(request: pytest.FixtureRequest) -> Generation:
    return request.param


@pytest.fixture(scope="module")
def folder(generation: Generation, tiny_qwen_vl: Callable[[Generation], Path]) -> Path:
    return tiny_qwen_vl(generation)


@pytest.fixture(scope="module")
def vlm(folder: Path) -> QwenVlm:
    return QwenVlm(VlmConfig(model_path=str(folder), max_new_tokens=24))


def test_the_tiny_folder_looks_like_a_released_checkpoint(generation: Generation, folder: Path) -> None:
    names = {path.name for path in folder.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "chat_template.jinja", "preprocessor_config.json"} <= names
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == generation and config["architectures"] == [MODEL_CLASSES[generation]]
    preprocessor = json.loads((folder / "preprocessor_config.json").read_text())
    assert preprocessor["processor_class"] == PROCESSOR_CLASSES[generation]
    assert preprocessor["patch_size"] == config["vision_config"]["patch_size"] == PATCH_SIZES[generation]
    if generation == "qwen3_vl":
        assert config["vision_config"]["deepstack_visual_indexes"] == [0]
        assert preprocessor["image_mean"] == preprocessor["image_std"] == [0.5, 0.5, 0.5]
    sizes = sum(path.stat().st_size for path in folder.iterdir())
    assert sizes < 5_000_000  # tiny


def test_the_prompt_has_one_image_placeholder_per_merged_patch(generation: Generation, folder: Path, fixtures_dir: Path) -> None:
    processor = load_processor(folder, VlmConfig(model_path=str(folder)))
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Describe this image."}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    user_turn = "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Describe this image.<|im_end|>\n<|im_start|>assistant\n"
    # Qwen2-VL and Qwen2.5-VL add a default system turn; Qwen3-VL does not.
    system = "" if generation == "qwen3_vl" else "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    assert text == system + user_turn
    with Image.open(fixtures_dir / CAT) as image:
        inputs = processor(text=[text], images=[image.convert("RGB")], return_tensors="pt")
    grid = [int(value) for value in inputs["image_grid_thw"][0]]
    assert inputs["pixel_values"].shape == (grid[0] * grid[1] * grid[2], 3 * 2 * PATCH_SIZES[generation] ** 2)
    image_pad = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert int((inputs["input_ids"][0] == image_pad).sum()) == grid[0] * grid[1] * grid[2] // 4
    assert int(inputs["mm_token_type_ids"].sum()) == grid[0] * grid[1] * grid[2] // 4


def test_answers_come_from_greedy_generation_on_the_resized_image(generation: Generation, vlm: QwenVlm, fixtures_dir: Path) -> None:
    with Image.open(fixtures_dir / CAT) as image:
        first = vlm.ask(image, "Describe this image.")
        again = vlm.ask(image, "Describe this image.")
    assert first == again  # greedy: deterministic
    assert isinstance(first.text, str) and "<|im_end|>" not in first.text
    # The processor resized 451x300 as vlforge.geometry.smart_resize does, with its own pixel limits.
    factor = 2 * PATCH_SIZES[generation]
    resized_h, resized_w = smart_resize(300, 451, factor=factor, min_pixels=factor * factor * 4, max_pixels=factor * factor * 16)
    assert first.resized_size == (resized_w, resized_h) == CAT_RESIZED[generation]


def test_caption_and_grounding_are_well_formed_whatever_the_random_model_says(vlm: QwenVlm, fixtures_dir: Path) -> None:
    with Image.open(fixtures_dir / CAT) as image:
        caption = vlm.caption(image)
        boxes = vlm.ground(image)
    assert isinstance(caption, str) and "<|" not in caption
    for box in boxes:
        assert 0 <= box.x1 < box.x2 <= 451 and 0 <= box.y1 < box.y2 <= 300


def test_each_generation_loads_as_its_own_model_class(generation: Generation, vlm: QwenVlm, folder: Path) -> None:
    model, processor = vlm._load()
    assert type(model).__name__ == MODEL_CLASSES[generation] and not model.training
    assert model.config.model_type == generation
    assert int(processor.image_processor.patch_size) == PATCH_SIZES[generation]
    assert vlm.backend == generation and vlm.model_version == f"{generation}:{folder.name}"


# The same JSON answer on the 451x300 cat, seen by the model resized to 112x84, read by each backend.
JSON_ANSWER = '```json\n[{"bbox_2d": [56, 42, 112, 84], "label": "cat"}]\n```'
EXPECTED_BOXES = {
    "qwen2_vl": (451 * 0.056, 300 * 0.042, 451 * 0.112, 300 * 0.084),  # relative 0..1000
    "qwen2_5_vl": (225.5, 150.0, 451.0, 300.0),  # absolute on the 112x84 resized image
    "qwen3_vl": (451 * 0.056, 300 * 0.042, 451 * 0.112, 300 * 0.084),  # relative 0..1000
}


def test_backend_auto_reads_boxes_by_the_generations_convention(
    generation: Generation, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = QwenVlm(VlmConfig(model_path=str(folder)))  # backend "auto": from config.json
    prompts: list[str] = []

    def ask(image: Image.Image, prompt: str) -> Answer:
        prompts.append(prompt)
        return Answer(text=JSON_ANSWER, resized_size=(112, 84))

    monkeypatch.setattr(backend, "ask", ask)
    (box,) = backend.ground(Image.new("RGB", (451, 300)))
    assert (box.x1, box.y1, box.x2, box.y2) == pytest.approx(EXPECTED_BOXES[generation])
    assert box.label == "cat" and prompts == [GROUNDING_PROMPTS[generation]]


def test_pixel_limits_from_the_recipe_override_the_processor(generation: Generation, folder: Path, fixtures_dir: Path) -> None:
    factor = 2 * PATCH_SIZES[generation]
    small = QwenVlm(VlmConfig(model_path=str(folder), max_new_tokens=2, max_pixels=factor * factor * 4))
    with Image.open(fixtures_dir / CAT) as image:
        assert small.ask(image, "hi").resized_size == (2 * factor, factor)


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


def test_a_configured_backend_overrides_config_json(tiny_qwen: Path) -> None:
    assert QwenVlm(VlmConfig(model_path=str(tiny_qwen))).backend == "qwen2_vl"
    forced = QwenVlm(VlmConfig(model_path=str(tiny_qwen), backend="qwen2_5_vl"))
    assert forced.backend == "qwen2_5_vl" and "JSON" in GROUNDING_PROMPTS[forced.backend]


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


def test_an_unknown_generation_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown Qwen-VL generation 'qwen9_vl'; known: \['qwen2_vl', 'qwen2_5_vl', 'qwen3_vl'\]"):
        build_tiny_qwen_vl(tmp_path, "qwen9_vl")  # type: ignore[arg-type]


def test_only_a_missing_torchvision_makes_the_processor_fall_back(tiny_qwen: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import transformers

    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("tokenizer.json is corrupt")

    monkeypatch.setattr(transformers.AutoProcessor, "from_pretrained", broken)
    with pytest.raises(ValueError, match="tokenizer.json is corrupt"):
        load_processor(tiny_qwen, VlmConfig(model_path=str(tiny_qwen)))
