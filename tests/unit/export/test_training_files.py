"""The ready training files, checked against each trainer's own rules without installing it.

The rules are read from the trainers' sources (cited per constant): which keys LLaMA-Factory's
argument parser accepts and how it joins ``media_dir``; how ms-swift resolves an image path
(``swift/template/vision_utils.py::_check_path``) and renders ``<bbox>`` per ``QWENVL_BBOX_FORMAT``
(``swift/template/templates/qwen.py``, ``base.py::normalize_bbox``); how qwen-vl-finetune reads a
``data_dict`` entry (``qwenvl/data/__init__.py``, ``data_processor.py::_build_messages``).
"""

from __future__ import annotations

import json
import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from export_samples import COCO, PHONE, SMALL, WIDE, write_images
from export_samples import caption_sample, grounding_sample, gui_sample, multi_image_sample, ocr_sample

from vlforge.config import Recipe
from vlforge.export import export_all
from vlforge.geometry import smart_resize

SAMPLES = [grounding_sample(), ocr_sample(), gui_sample(), multi_image_sample(), caption_sample()]
SPLITS = ["train", "train", "train", "val", "val"]
MODELS = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl")

# hiyouga/LLaMA-Factory @ff6d4d1, src/llamafactory/hparams: the fields the ready YAML uses, by dataclass.
# HfArgumentParser.parse_dict(..., allow_extra_keys=False) refuses any key that is no field.
LLAMAFACTORY_FIELDS = {
    "data_args.py DataArguments": {"template", "dataset", "eval_dataset", "dataset_dir", "media_dir", "cutoff_len"},
    "model_args.py ProcessorArguments": {"image_max_pixels", "image_min_pixels", "video_max_pixels", "video_fps"},
    "finetuning_args.py FinetuningArguments": {"stage", "finetuning_type"},
}
# src/llamafactory/data/template.py: registered Qwen-VL templates; finetuning_args.py: the stages.
LLAMAFACTORY_TEMPLATES = {"qwen2_vl", "qwen3_vl", "qwen3_vl_nothink"}
LLAMAFACTORY_STAGES = {"pt", "sft", "rm", "ppo", "dpo", "kto"}


@pytest.fixture
def release(tmp_path: Path, recipe: Recipe) -> Path:
    """A release folder: images/ and every export of five samples, train and val."""
    folder = tmp_path / "release"
    write_images(folder, COCO, WIDE, SMALL, PHONE)
    trainers = recipe.export.model_copy(update={"formats": ("qwen2_5_vl", "qwen3_vl", "llamafactory", "ms_swift")})
    export_all(SAMPLES, SPLITS, folder / "exports", "ds", recipe.model_copy(update={"export": trainers}))
    return folder


def _answers(record: dict) -> list[str]:  # type: ignore[type-arg]
    return [message["content"] for message in record["messages"] if message["role"] == "assistant"]


def _qwen_finetune_answers(release: Path, model: str, split: str) -> dict[str, list[str]]:
    """The Qwen finetune export's answers per sample id: the convention each model is trained on."""
    records = json.loads((release / f"exports/{model}/ds_{split}.json").read_text(encoding="utf-8"))
    return {record["id"]: [turn["value"] for turn in record["conversations"] if turn["from"] == "gpt"] for record in records}


def _boxes(answer: str) -> list[list[int]]:
    return [item["bbox_2d"] for item in json.loads(answer) if "bbox_2d" in item]


def test_llamafactory_yaml_per_model_loads_by_llamafactorys_rules(release: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from transformers import Seq2SeqTrainingArguments

    accepted = set().union(*LLAMAFACTORY_FIELDS.values()) | set(Seq2SeqTrainingArguments.__dataclass_fields__)
    monkeypatch.chdir(release)  # the command runs in the release folder; LLaMA-Factory joins paths to it
    expected = _qwen_finetune_answers(release, "qwen3_vl", "train")
    resized = _qwen_finetune_answers(release, "qwen2_5_vl", "train")
    for model in MODELS:
        path = Path(f"exports/llamafactory/train_{model}.yaml")
        text = path.read_text(encoding="utf-8")
        assert f"llamafactory-cli train exports/llamafactory/train_{model}.yaml model_name_or_path=" in text
        config = yaml.safe_load(text)
        assert set(config) <= accepted, set(config) - accepted
        assert config["stage"] in LLAMAFACTORY_STAGES and config["do_train"] is True
        assert config["template"] in LLAMAFACTORY_TEMPLATES
        info = json.loads((Path(config["dataset_dir"]) / "dataset_info.json").read_text(encoding="utf-8"))
        suffix = "_qwen2_5_vl" if model == "qwen2_5_vl" else ""
        assert (config["dataset"], config["eval_dataset"]) == (f"ds_train{suffix}", f"ds_val{suffix}")
        for name in (config["dataset"], config["eval_dataset"]):
            records = json.loads((Path(config["dataset_dir"]) / info[name]["file_name"]).read_text(encoding="utf-8"))
            for record in records:  # converter.py: os.path.join(media_dir, path) must be a file
                assert all(os.path.isfile(os.path.join(config["media_dir"], image)) for image in record["images"])
        train = json.loads((Path(config["dataset_dir"]) / info[config["dataset"]]["file_name"]).read_text(encoding="utf-8"))
        grounding, ocr = train[0], train[1]
        if model == "qwen2_5_vl":
            # LLaMA-Factory shrinks an image above image_max_pixels before the processor's smart_resize:
            # with the recipe's max, none of these is shrunk, so the boxes are on smart_resize's size.
            assert (config["image_max_pixels"], config["image_min_pixels"]) == (12845056, 3136)
            assert all(image.width * image.height <= config["image_max_pixels"] for image in (COCO, WIDE, PHONE))
            height, width = smart_resize(COCO.height, COCO.width, 28, config["image_min_pixels"], config["image_max_pixels"])
            assert (width, height) == (644, 420)
            assert _boxes(_answers(grounding)[0]) == [[147, 134, 619, 407]]  # 146*644/640, 137*420/428, ...
            assert _answers(grounding) == resized["grounding-1"] and _answers(ocr) == resized["ocr-1"]
        else:
            assert "image_max_pixels" not in config  # relative boxes do not depend on the resize
            assert _boxes(_answers(grounding)[0]) == [[228, 320, 961, 970]]  # round(146/640*1000), ...
            assert _answers(grounding) == expected["grounding-1"] and _answers(ocr) == expected["ocr-1"]
            assert all(0 <= value <= 1000 for answer in _answers(ocr)[:1] for box in _boxes(answer) for value in box)


def _swift_check_path(path: str, root_image_dir: str | None) -> str | None:
    """ms-swift @3602360 vision_utils._check_path for a local file: as given, else joined to ROOT_IMAGE_DIR."""
    if os.path.exists(path):
        return os.path.abspath(path)
    if root_image_dir is not None:
        path = os.path.join(root_image_dir, path)
    path = os.path.abspath(os.path.expanduser(path))
    return path if os.path.exists(path) else None


def _swift_render(record: dict, model: str, bbox_format: str, sizes: list[tuple[int, int]]) -> list[str]:  # type: ignore[type-arg]
    """The assistant texts ms-swift trains on: normalize_bbox (real boxes: norm1000, or the resized image's
    pixels for Qwen2.5-VL whose norm_bbox is 'none'), then replace_ref / replace_bbox in order."""
    objects = record.get("objects", {"ref": [], "bbox": [], "image_id": []})
    refs, bboxes = list(objects["ref"]), []
    image_ids = objects.get("image_id") or [0] * len(objects["bbox"])
    for bbox, image_id in zip(objects["bbox"], image_ids, strict=True):
        (width, height), (new_width, new_height) = sizes[image_id], (1000, 1000)
        if model == "qwen2_5_vl":
            new_height, new_width = smart_resize(height, width)
        bboxes.append([int(round(value / (width, height)[index % 2] * (new_width, new_height)[index % 2])) for index, value in enumerate(bbox)])
    texts = []
    for text in _answers(record):
        while "<ref-object>" in text or "<bbox>" in text:
            ref_at, box_at = text.find("<ref-object>"), text.find("<bbox>")
            if ref_at != -1 and (box_at == -1 or ref_at < box_at):
                ref = refs.pop(0)
                text = text.replace("<ref-object>", f"<|object_ref_start|>{ref}<|object_ref_end|>" if bbox_format == "legacy" else ref, 1)
            else:
                box = bboxes.pop(0)
                points = ",".join(f"({x},{y})" for x, y in zip(box[::2], box[1::2], strict=True))
                text = text.replace("<bbox>", f"<|box_start|>{points}<|box_end|>" if bbox_format == "legacy" else str(box), 1)
        texts.append(text)
    return texts


@pytest.mark.slow  # runs each script in a shell
def test_ms_swift_scripts_run_from_anywhere_with_the_models_box_format(release: Path, tmp_path: Path) -> None:
    """Each script, run from another folder with a stand-in ``swift`` that records what it was given."""
    fake = tmp_path / "bin" / "swift"
    fake.parent.mkdir()
    fake.write_text(
        f"#!{sys.executable}\nimport json, os, sys\n"
        "keys = ('ROOT_IMAGE_DIR', 'QWENVL_BBOX_FORMAT', 'IMAGE_FACTOR', 'MIN_PIXELS', 'MAX_PIXELS')\n"
        "json.dump({'argv': sys.argv[1:], 'env': {k: os.environ.get(k) for k in keys}}, open(os.environ['SWIFT_CALL'], 'w'))\n"
    )
    fake.chmod(0o755)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    finetune = {model: _qwen_finetune_answers(release, model, "train") for model in ("qwen2_5_vl", "qwen3_vl")}
    for model in MODELS:
        call = tmp_path / f"{model}.json"
        script = release / f"exports/ms_swift/train_{model}.sh"
        env = {**os.environ, "PATH": f"{fake.parent}:{os.environ['PATH']}", "SWIFT_CALL": str(call)}
        subprocess.run(["sh", str(script), "--model", "Qwen/X"], cwd=elsewhere, env=env, check=True, timeout=60)
        recorded = json.loads(call.read_text())
        argv, environment = recorded["argv"], recorded["env"]
        assert argv[0] == "sft" and argv[-2:] == ["--model", "Qwen/X"]
        train, val = argv[argv.index("--dataset") + 1], argv[argv.index("--val_dataset") + 1]
        suffix = "" if model == "qwen2_vl" else f"_{model}"
        assert (Path(train).name, Path(val).name) == (f"ds_train{suffix}.jsonl", f"ds_val{suffix}.jsonl")
        assert environment["QWENVL_BBOX_FORMAT"] == ("legacy" if model == "qwen2_vl" else "new")
        if model == "qwen2_5_vl":  # the resize its GUI points were computed for (qwen_vl_utils' variables)
            assert (environment["IMAGE_FACTOR"], environment["MIN_PIXELS"], environment["MAX_PIXELS"]) == ("28", "3136", "12845056")
        records = [json.loads(line) for path in (train, val) for line in Path(path).read_text(encoding="utf-8").splitlines()]
        here = Path.cwd()
        os.chdir(elsewhere)
        try:
            for record in records:
                resolved = [_swift_check_path(image, environment["ROOT_IMAGE_DIR"]) for image in record["images"]]
                assert all(path and Path(path).parent == release / "images" for path in resolved), resolved
        finally:
            os.chdir(here)
        rendered = {sample.sample_id: _swift_render(record, model, environment["QWENVL_BBOX_FORMAT"], [(i.width, i.height) for i in sample.images])
                    for sample, record in zip([s for s, split in zip(SAMPLES, SPLITS) if split == "train"], records, strict=False)}
        if model == "qwen2_vl":
            assert rendered["grounding-1"] == ["<|object_ref_start|>bowl of carrots<|object_ref_end|><|box_start|>(228,320),(961,970)<|box_end|>"]
        else:  # what the Qwen finetune export teaches, number for number
            assert rendered["grounding-1"] == finetune[model]["grounding-1"]
            assert rendered["gui-1"] == finetune[model]["gui-1"]
            assert _boxes(rendered["ocr-1"][0]) == _boxes(finetune[model]["ocr-1"][0])


def test_qwen_finetune_data_dict_resolves_from_any_folder(release: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # qwen-vl-finetune runs from its own folder
    for model in ("qwen2_5_vl", "qwen3_vl"):
        path = release / f"exports/{model}/data_dict.py"
        source = path.read_text(encoding="utf-8")
        assert f'runpy.run_path("<release>/exports/{model}/data_dict.py")["DATA_DICT"]' in source
        data_dict = runpy.run_path(str(path))["DATA_DICT"]
        assert list(data_dict) == ["ds_train", "ds_val"]
        # qwenvl/data/__init__.py: a trailing %NN is read as a sampling rate, so names must not end so
        assert not any(re.search(r"%(\d+)$", name) for name in data_dict)
        for name, entry in data_dict.items():
            assert set(entry) == {"annotation_path", "data_path"}  # as CAMBRIAN_737K, MP_DOC, ... are declared
            for record in json.loads(Path(entry["annotation_path"]).read_text(encoding="utf-8")):
                images = record.get("image") or []
                images = [images] if isinstance(images, str) else images
                # data_processor._build_messages: (Path(data_path) / image).resolve(); one <image> per path
                assert all((Path(entry["data_path"]) / image).resolve().parent == (release / "images").resolve() for image in images)
                assert all((Path(entry["data_path"]) / image).resolve().is_file() for image in images)
                text = "".join(turn["value"] for turn in record["conversations"] if turn["from"] == "human")
                assert text.count("<image>") == len(images), name
        flags = re.search(r"--dataset_use ([^\s`]+)( --max_pixels (\d+) --min_pixels (\d+))?", source)
        assert flags and flags.group(1) == "ds_train"
        if model == "qwen2_5_vl":  # its pixel boxes hold only when the processor resizes as the recipe did
            max_pixels, min_pixels = int(flags.group(3)), int(flags.group(4))
            records = json.loads(Path(data_dict["ds_train"]["annotation_path"]).read_text(encoding="utf-8"))
            height, width = smart_resize(COCO.height, COCO.width, 28, min_pixels, max_pixels)
            (box,) = _boxes(records[0]["conversations"][-1]["value"])
            assert box == [147, 134, 619, 407] and box[2] < width and box[3] < height
        else:
            assert flags.group(2) is None
