"""Exports: a release's samples written in each trainer's own format, one module per format, one set of files per split.

Every exporter validates each record against its consumer's rules before
writing (an invalid record is a bug upstream and raises ``ExportError``), and
writes image and video paths relative to its own folder, so that pointing the
trainer's dataset folder at it is enough.

Splits are kept apart, so that a trainer pointed at the train files never sees a
val or test sample. ``export_all`` writes each format once per split that has
samples for it, in the order train, val, test, under ``exports/<format>/``:

=================  ===============================================================================
format             files (``<d>`` = dataset, ``<s>`` = split)
=================  ===============================================================================
qwen_vl_chatml     ``<d>_<s>.jsonl``
qwen2_5_vl         ``<d>_<s>.json`` (register each in ``qwenvl/data/__init__.py``)
qwen3_vl           ``<d>_<s>.json``
llamafactory       ``<d>_<s>.json`` and ONE ``dataset_info.json`` registering each as ``<d>_<s>``
                   (``dataset: <d>_train``, ``eval_dataset: <d>_val``)
ms_swift           ``<d>_<s>.jsonl`` (``--dataset <d>_train.jsonl --val_dataset <d>_val.jsonl``)
coco               ``instances_<d>_<s>.json`` and ``captions_<d>_<s>.json`` (as ``instances_train2017.json``)
csv                ``<d>_<s>.csv``
parquet            ``<d>_<s>.parquet``: ``datasets.load_dataset("parquet", data_files={"train": ...,
                   "validation": ..., "test": ...})``, or ``load_dataset(<folder>)``, which finds the
                   splits by these names (``val`` is its ``validation``)
webdataset         ``<d>_<s>-000000.tar``, ``<d>_<s>-000001.tar``, ...
=================  ===============================================================================

Boxes follow each target model's convention (``export.target_models``): LLaMA-Factory gets
``<d>_<s>_qwen2_5_vl.json`` beside the 0-1000 files when Qwen2.5-VL is a target, ms-swift one
``<d>_<s>_<model>.jsonl`` per target beyond Qwen2-VL. Beside the files, each trainer format gets
its ready training files (``training_files``): ``llamafactory/train_<model>.yaml``,
``ms_swift/train_<model>.sh`` and ``qwen2_5_vl/data_dict.py``, ``qwen3_vl/data_dict.py``.

Videos: the LLaMA-Factory, Qwen2.5-VL/Qwen3-VL finetune, ms-swift and CSV exports hold them
(``VIDEO_FORMATS``). The other formats cannot: their exporters refuse a video sample, and
``export_all`` leaves such samples out of that format only, counting them per reason in the
format's ``FormatExport.skipped``, rather than failing the whole release.

Every exporter takes an iterable of one split's samples and writes as they come (JSON Lines and CSV
a line at a time, the JSON documents through ``json_stream``, Parquet a row group at a time, WebDataset
a tar member at a time), so ``export_all_streaming`` exports a release of any size from a reader of its
manifest in the memory of a few samples, reading each split once per format.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from itertools import chain
from pathlib import Path

from vlforge.config import Recipe
from vlforge.curate.result import SPLITS
from vlforge.export import (
    coco,
    csv,
    llamafactory,
    ms_swift,
    parquet,
    qwen_finetune,
    qwen_vl_chatml,
    training_files,
    webdataset,
)
from vlforge.records import Sample

# One split's samples, read once -> the files written for it, named after the name passed in.
Exporter = Callable[[Iterable[Sample], Path, str, Recipe], list[Path]]
# Every split's samples (split -> samples, in split order) -> all files of the format.
SplitExporter = Callable[[dict[str, Iterable[Sample]], Path, str, Recipe], list[Path]]
# A new pass over one split's samples, in release order: each format reads each split once.
SplitReader = Callable[[str], Iterable[Sample]]
log = logging.getLogger(__name__)


def per_split(export: Exporter) -> SplitExporter:
    """A format whose splits are independent files: ``export`` once per split, named ``<dataset>_<split>``."""

    def export_splits(splits: dict[str, Iterable[Sample]], folder: Path, dataset: str, recipe: Recipe) -> list[Path]:
        return [path for split, samples in splits.items() for path in export(samples, folder, f"{dataset}_{split}", recipe)]

    return export_splits


EXPORTERS: dict[str, SplitExporter] = {
    "qwen_vl_chatml": per_split(qwen_vl_chatml.export),
    "qwen2_5_vl": per_split(qwen_finetune.export_qwen2_5_vl),
    "qwen3_vl": per_split(qwen_finetune.export_qwen3_vl),
    "llamafactory": llamafactory.export_splits,
    "ms_swift": per_split(ms_swift.export),
    "coco": per_split(coco.export),
    "csv": per_split(csv.export),
    "parquet": per_split(parquet.export),
    "webdataset": per_split(webdataset.export),
}
# The formats that copy every image's bytes into their own files, the longest passes by far (6.5 s and 5.5 s of
# 29 s for 29,000 samples): export workers start them first, so that the short passes fill the other cores.
EMBEDS_MEDIA: frozenset[str] = frozenset({"webdataset", "parquet"})
# The formats whose consumers read videos; the others get no video samples.
VIDEO_FORMATS: frozenset[str] = frozenset({"qwen2_5_vl", "qwen3_vl", "llamafactory", "ms_swift", "csv"})
VIDEO_NOT_SUPPORTED = "video_not_supported"


@dataclass(frozen=True)
class Skipped:
    """A sample left out of one format, with a stable reason code to count by."""

    sample_id: str
    split: str
    reason: str


@dataclass(frozen=True)
class FormatExport:
    """What one format wrote: its files (relative to the exports folder), samples per split, samples left out."""

    files: tuple[str, ...]
    written: dict[str, int]
    skipped: tuple[Skipped, ...] = ()

    def counts(self) -> dict[str, object]:
        """``RELEASE.json``'s ``counts.exports[<format>]``: written (total and per split), skipped (total and per reason)."""
        return {
            "written": sum(self.written.values()),
            "written_by_split": dict(self.written),
            "skipped": len(self.skipped),
            "skipped_by_reason": dict(sorted(Counter(skip.reason for skip in self.skipped).items())),
        }


def skip_reason(sample: Sample, format_name: str) -> str | None:
    """Why ``format_name`` cannot hold ``sample`` (a reason code), or None when it can."""
    if sample.videos and format_name not in VIDEO_FORMATS:
        return VIDEO_NOT_SUPPORTED
    return None


def export_all(
    samples: list[Sample], splits: list[str], exports_dir: Path, dataset: str, recipe: Recipe
) -> dict[str, FormatExport]:
    """Write every format the recipe asks for into ``exports_dir/<format>/``, one set of files per split (``export_all_streaming``).

    Args:
        samples: the release's samples, in order.
        splits: each sample's split (``train``, ``val`` or ``test``), in the same order.
        exports_dir: ``<release>/exports``; images are read from ``<release>/images``.
        dataset: the dataset name the files are named after.
        recipe: the formats to write and the prompts of the grounding and OCR turns.

    Raises:
        ValueError: when ``splits`` does not give one known split per sample.
        ExportError: for a sample that breaks a consumer's rules (a bug upstream).
    """
    if len(splits) != len(samples):
        raise ValueError(f"{len(splits)} splits for {len(samples)} samples: export_all needs one split per sample")
    unknown = sorted(set(splits) - set(SPLITS))
    if unknown:
        raise ValueError(f"unknown splits {unknown}; known splits: {list(SPLITS)}")

    def read_split(wanted: str) -> Iterator[Sample]:
        return (sample for sample, split in zip(samples, splits, strict=True) if split == wanted)

    return export_all_streaming(read_split, exports_dir, dataset, recipe)


@dataclass
class _Tally:
    """What one format's pass over one split wrote and left out, counted as the exporter reads."""

    written: int = 0
    skipped: list[Skipped] = field(default_factory=list)


def _kept(samples: Iterable[Sample], split: str, format_name: str, tally: _Tally) -> Iterator[Sample]:
    for sample in samples:
        reason = skip_reason(sample, format_name)
        if reason is None:
            tally.written += 1
            yield sample
        else:
            tally.skipped.append(Skipped(sample.sample_id, split, reason))


def export_all_streaming(
    read_split: SplitReader, exports_dir: Path, dataset: str, recipe: Recipe, workers: int = 1
) -> dict[str, FormatExport]:
    """Write every format the recipe asks for into ``exports_dir/<format>/``, one set of files per split, streaming.

    Args:
        read_split: a new pass over a split's samples (``train``, ``val``, ``test``), in release order.
        exports_dir: ``<release>/exports``; images are read from ``<release>/images``.
        dataset: the dataset name the files are named after.
        recipe: the formats to write and the prompts of the grounding and OCR turns.
        workers: formats written side by side, each pass in a process forked from this one, which
            reads the splits through ``read_split`` on its own (1: one format after the other, here).
            Every format has its own folder, so the files are the same either way.

    Returns:
        Per format, the files written (relative to ``exports_dir``, its ready training files last),
        the samples written per split, and the samples the format cannot hold, which it left out.

    Raises:
        ExportError: for a sample that breaks a consumer's rules (a bug upstream).
    """
    formats = list(recipe.export.formats)
    started = time.perf_counter()
    done: dict[str, FormatExport] = {}

    def finished(name: str, result: FormatExport) -> None:
        done[name] = result
        log.info("export %s: %d samples written, %d left out (%d of %d formats, %.1f s)", name, sum(result.written.values()),
                 len(result.skipped), len(done), len(formats), time.perf_counter() - started)  # fmt: skip

    if workers > 1 and len(formats) > 1:
        # fork: the workers inherit ``read_split`` (a pass over this process's spool files) instead of pickling it
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(min(workers, len(formats)), context, initializer=_keep_reader, initargs=(read_split,)) as pool:
            longest_first = sorted(formats, key=lambda name: name not in EMBEDS_MEDIA)
            passes = {pool.submit(_export_with_kept_reader, name, exports_dir, dataset, recipe): name for name in longest_first}
            for future in as_completed(passes):
                finished(passes[future], future.result())
    else:
        for name in formats:
            finished(name, export_format(name, read_split, exports_dir, dataset, recipe))
    results = {name: done[name] for name in formats}
    ready = training_files.write_training_files(
        exports_dir, dataset, {name: list(result.written) for name, result in results.items()}, recipe
    )
    return {
        name: replace(result, files=(*result.files, *(path.relative_to(exports_dir).as_posix() for path in ready.get(name, []))))
        for name, result in results.items()
    }


def export_format(name: str, read_split: SplitReader, exports_dir: Path, dataset: str, recipe: Recipe) -> FormatExport:
    """One format's pass over every split into ``exports_dir/<name>/`` (its ready training files are written later)."""
    tallies = {split: _Tally() for split in SPLITS}
    by_split: dict[str, Iterable[Sample]] = {}
    for split, tally in tallies.items():
        kept = _kept(read_split(split), split, name, tally)
        first = next(kept, None)  # a split with nothing to write gets no files; a pass that ends here counted its skips
        if first is not None:
            by_split[split] = chain([first], kept)
    files = EXPORTERS[name](by_split, exports_dir / name, dataset, recipe) if by_split else []
    return FormatExport(
        files=tuple(path.relative_to(exports_dir).as_posix() for path in files),
        written={split: tallies[split].written for split in by_split},
        skipped=tuple(skip for tally in tallies.values() for skip in tally.skipped),
    )


# In a forked export worker: the reader it inherited from the process that forked it.
_inherited_reader: SplitReader | None = None


def _keep_reader(read_split: SplitReader) -> None:
    global _inherited_reader
    _inherited_reader = read_split


def _export_with_kept_reader(name: str, exports_dir: Path, dataset: str, recipe: Recipe) -> FormatExport:
    assert _inherited_reader is not None, "an export worker starts with _keep_reader"
    return export_format(name, _inherited_reader, exports_dir, dataset, recipe)
