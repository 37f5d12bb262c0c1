"""Ready files beside the exports that say exactly how each trainer trains on a release, per target model.

Each trainer finds data files and images by its own rule, and each Qwen-VL generation
reads boxes in its own convention; these files carry both, so a user copies one line:

=========================  ===========================================================================
file                       what it holds, and how the trainer resolves its paths
=========================  ===========================================================================
``llamafactory/``          A LLaMA-Factory training YAML (``stage``, ``do_train``, ``template``,
``train_<model>.yaml``     ``dataset_dir``, ``media_dir``, ``dataset``, ``eval_dataset``; for Qwen2.5-VL
                           ``image_max_pixels``/``image_min_pixels``). LLaMA-Factory joins ``dataset_dir``
                           and ``media_dir`` to the current folder, so they are relative to the release
                           folder and the command runs there. Qwen2.5-VL trains on the
                           ``<dataset>_<split>_qwen2_5_vl`` files (resized pixels), the others on the
                           0-1000 ones; LLaMA-Factory shrinks images above ``image_max_pixels`` before
                           its processor resizes them, so the Qwen2.5-VL file sets it to the recipe's
                           ``qwen2_5_vl_resize.max_pixels``, the size its pixel boxes were computed for.
``ms_swift/``              A shell script that runs ``swift sft`` from anywhere: ms-swift resolves
``train_<model>.sh``       images from the current folder or ``ROOT_IMAGE_DIR``, so the script sets that
                           to its own folder, and ``QWENVL_BBOX_FORMAT`` (``legacy`` for Qwen2-VL,
                           ``new`` for Qwen2.5-VL and Qwen3-VL, which answer in JSON) with the file
                           written for it; for Qwen2.5-VL ``IMAGE_FACTOR``, ``MIN_PIXELS`` and
                           ``MAX_PIXELS`` as the recipe resizes (its GUI points are in those pixels).
``qwen2_5_vl/``,           The ``data_dict`` entries of Qwen's ``qwen-vl-finetune`` (``annotation_path``,
``qwen3_vl/data_dict.py``  ``data_path``), absolute from the file's own place, to merge into
                           ``qwenvl/data/__init__.py`` with one line; ``data_path`` is the export
                           folder, which the image paths are relative to. For Qwen2.5-VL the training
                           flags ``--max_pixels``/``--min_pixels`` match the recipe's resize.
=========================  ===========================================================================
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import yaml

from vlforge.config import Recipe, TargetModel
from vlforge.export.llamafactory import dataset_name
from vlforge.export.ms_swift import BBOX_FORMATS, dataset_file
from vlforge.store import atomic_write_text

MODEL_NAMES: dict[TargetModel, str] = {"qwen2_vl": "Qwen2-VL", "qwen2_5_vl": "Qwen2.5-VL", "qwen3_vl": "Qwen3-VL"}
# LLaMA-Factory's template per model (its README's table; the Qwen3-VL Instruct models answer without
# <think>: use qwen3_vl for the Thinking ones).
LLAMAFACTORY_TEMPLATES: dict[TargetModel, str] = {
    "qwen2_vl": "qwen2_vl",
    "qwen2_5_vl": "qwen2_vl",
    "qwen3_vl": "qwen3_vl_nothink",
}
EXAMPLE_MODELS: dict[TargetModel, str] = {
    "qwen2_vl": "Qwen/Qwen2-VL-7B-Instruct",
    "qwen2_5_vl": "Qwen/Qwen2.5-VL-7B-Instruct",
    "qwen3_vl": "Qwen/Qwen3-VL-8B-Instruct",
}
BOX_CONVENTIONS: dict[TargetModel, str] = {
    "qwen2_vl": "boxes relative 0-1000",
    "qwen2_5_vl": "boxes in pixels of the smart-resized image",
    "qwen3_vl": "boxes relative 0-1000",
}


READY_FILE_NAMES = ("train_*.yaml", "train_*.sh", "data_dict.py")


def is_ready_file(relative_path: str) -> bool:
    """Whether a file of the exports folder is one of these ready files (by name)."""
    return any(PurePosixPath(relative_path).match(pattern) for pattern in READY_FILE_NAMES)


def train_and_eval(dataset: str, splits: list[str]) -> tuple[str, str | None]:
    """The names of the split to train on (``train``, else the first written) and to evaluate on (``val``)."""
    train = "train" if "train" in splits else splits[0]
    return f"{dataset}_{train}", f"{dataset}_val" if "val" in splits else None


def llamafactory_yaml(dataset: str, splits: list[str], model: TargetModel, recipe: Recipe) -> str:
    """``train_<model>.yaml``: LLaMA-Factory's data and template keys for one model, run from the release folder."""
    train, evaluate = train_and_eval(dataset, splits)
    folder = "exports/llamafactory"
    config: dict[str, object] = {
        "stage": "sft",
        "do_train": True,
        "template": LLAMAFACTORY_TEMPLATES[model],
        "dataset_dir": folder,
        "media_dir": folder,
        "dataset": dataset_name(train, model),
    }
    if evaluate:
        config["eval_dataset"] = dataset_name(evaluate, model)
    if model == "qwen2_5_vl":
        resize = recipe.export.qwen2_5_vl_resize
        config |= {"image_max_pixels": resize.max_pixels, "image_min_pixels": resize.min_pixels}
    header = (
        f"# LLaMA-Factory SFT of {MODEL_NAMES[model]} on release {dataset} ({BOX_CONVENTIONS[model]}).\n"
        "# Run in the release folder (dataset_dir and media_dir are relative to it), naming your model and output:\n"
        f"#   llamafactory-cli train {folder}/train_{model}.yaml model_name_or_path={EXAMPLE_MODELS[model]}"
        f" output_dir=saves/{dataset}-{model}\n"
    )
    return header + yaml.safe_dump(config, sort_keys=False)


def ms_swift_script(dataset: str, splits: list[str], model: TargetModel, recipe: Recipe) -> str:
    """``train_<model>.sh``: ``swift sft`` on the model's file with the environment its paths and boxes need."""
    train, evaluate = train_and_eval(dataset, splits)
    environment = {"ROOT_IMAGE_DIR": '"$here"', "QWENVL_BBOX_FORMAT": BBOX_FORMATS[model]}
    if model == "qwen2_5_vl":
        resize = recipe.export.qwen2_5_vl_resize
        environment |= {"IMAGE_FACTOR": str(resize.factor), "MIN_PIXELS": str(resize.min_pixels), "MAX_PIXELS": str(resize.max_pixels)}
    arguments = f'--dataset "$here/{dataset_file(train, model)}"'
    if evaluate:
        arguments += f' --val_dataset "$here/{dataset_file(evaluate, model)}"'
    exports = " ".join(f"{name}={value}" for name, value in environment.items())
    return (
        "#!/bin/sh\n"
        f"# ms-swift SFT of {MODEL_NAMES[model]} on release {dataset} ({BOX_CONVENTIONS[model]}). From any folder:\n"
        f"#   sh <release>/exports/ms_swift/train_{model}.sh --model {EXAMPLE_MODELS[model]} --output_dir output\n"
        "# ms-swift resolves image paths from the current folder or ROOT_IMAGE_DIR, not from the JSONL's folder;\n"
        f"# QWENVL_BBOX_FORMAT={BBOX_FORMATS[model]} renders <bbox> as {MODEL_NAMES[model]} is trained to answer.\n"
        "set -e\n"
        'here=$(cd "$(dirname "$0")" && pwd)\n'
        f"export {exports}\n"
        f'exec swift sft {arguments} "$@"\n'
    )


def qwen_data_dict(dataset: str, splits: list[str], model: TargetModel, recipe: Recipe) -> str:
    """``data_dict.py``: the ``qwen-vl-finetune`` registrations of every split, with the training flags to use."""
    entries = "".join(
        f'    "{dataset}_{split}": {{"annotation_path": str(HERE / "{dataset}_{split}.json"), "data_path": str(HERE)}},\n'
        for split in splits
    )
    train, _ = train_and_eval(dataset, splits)
    flags = f"--dataset_use {train}"
    if model == "qwen2_5_vl":
        resize = recipe.export.qwen2_5_vl_resize
        flags += f" --max_pixels {resize.max_pixels} --min_pixels {resize.min_pixels}"
    return (
        f'"""qwen-vl-finetune data for {MODEL_NAMES[model]}: release {dataset} ({BOX_CONVENTIONS[model]}).\n\n'
        "Register it in qwenvl/data/__init__.py, after ``data_dict = {...}``, with the absolute path of this file:\n\n"
        f'    import runpy; data_dict.update(runpy.run_path("<release>/exports/{model}/data_dict.py")["DATA_DICT"])\n\n'
        f"then train with ``{flags}``.\n"
        '"""\n\n'
        "from pathlib import Path\n\n"
        "HERE = Path(__file__).resolve().parent  # data_path: the images' paths are relative to this folder\n"
        f"DATA_DICT = {{\n{entries}}}\n"
    )


def write_training_files(exports_dir: Path, dataset: str, splits: dict[str, list[str]], recipe: Recipe) -> dict[str, list[Path]]:
    """Write the ready files of every exported trainer format.

    Args:
        exports_dir: ``<release>/exports``.
        dataset: the dataset name the export files are named after.
        splits: per format, the splits it wrote (in order); formats that wrote nothing are absent.
        recipe: the target models and Qwen2.5-VL's resize.

    Returns:
        Per format, the ready files written.
    """
    writers = {
        "llamafactory": ("train_{model}.yaml", llamafactory_yaml, recipe.export.target_models),
        "ms_swift": ("train_{model}.sh", ms_swift_script, recipe.export.target_models),
        "qwen2_5_vl": ("data_dict.py", qwen_data_dict, ("qwen2_5_vl",)),
        "qwen3_vl": ("data_dict.py", qwen_data_dict, ("qwen3_vl",)),
    }
    written: dict[str, list[Path]] = {}
    for format_name, (file_name, write, models) in writers.items():
        if not splits.get(format_name):
            continue
        for model in models:
            path = exports_dir / format_name / file_name.format(model=model)
            atomic_write_text(path, write(dataset, splits[format_name], model, recipe))  # type: ignore[operator]
            written.setdefault(format_name, []).append(path)
    return written
