"""The Parquet manifest: every field of a sample survives a write and a read, under one explicit schema."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vlforge import manifest
from vlforge import store as store_module
from vlforge.manifest import SCHEMA, read_manifest, samples_to_table, write_manifest
from vlforge.records import (
    Box,
    GuiAction,
    ImageRef,
    LineageOp,
    Metrics,
    OcrLine,
    Sample,
    Source,
    Turn,
    VideoEvent,
    VideoRef,
)

PHONE = ImageRef(sha256="d" * 64, width=1080, height=2400, format="png")
POSTER = ImageRef(sha256="e" * 64, width=1080, height=1349, format="jpg")
# LLaMA-Factory's demo videos: 2.avi is 320x240, 270 frames at 29.9167 fps; 4.mp4 224x224, 150 frames at 30 fps.
AVI = VideoRef(sha256="1" * 64, width=320, height=240, format="avi", duration_s=270 / (359 / 12), fps=359 / 12, frames=270)
CLIP = VideoRef(sha256="2" * 64, width=224, height=224, format="mp4", duration_s=5.0, fps=30.0, frames=150)


def every_field_sample() -> Sample:
    """A sample in which every field, nested and optional, holds a value that is not its default."""
    return Sample(
        sample_id="0123456789abcdef",
        task_type="gui_action",
        images=(PHONE, POSTER),
        videos=(AVI, CLIP),
        conversations=(
            Turn(role="system", content="You operate a phone."),
            Turn(role="user", content="<image><image><video><video>Open the settings, 设置."),
            Turn(role="assistant", content="click(546, 1204)"),
        ),
        boxes=(
            Box(x1=0.5, y1=1.25, x2=1079.75, y2=2399.0, label="screen"),
            Box(x1=10, y1=20, x2=30, y2=40, label="", image_index=1),
        ),
        ocr_lines=(
            OcrLine(text="Settings", box=Box(x1=100, y1=200, x2=300, y2=260, label="line"), language="en"),
            OcrLine(text="设置", language="zh"),
        ),
        actions=(
            GuiAction(type="click", point=(540.0, 1200.5)),
            GuiAction(type="type", text="wifi"),
            GuiAction(type="swipe", box=Box(x1=0, y1=1000, x2=1080, y2=1400), point=(540, 1200)),
        ),
        video_events=(
            VideoEvent(start_s=0.0, end_s=1.5, description="screen wakes"),
            VideoEvent(start_s=1.5, end_s=9.7, description="settings open"),
        ),
        choices=("settings", "camera"),
        annotator="ann-2",
        round=2,
        item_id="fedcba9876543210",
        gold=True,
        metrics=Metrics(iou_agreement=0.875, ocr_accuracy=1.0, bertscore_f1=0.5, rounds_compared=2),
        source=Source(file="tasks/export.json", record_id="42"),
        lineage=(
            LineageOp(op="ingest.label_studio"),
            LineageOp(op="hflip", params_json='{"p": 1.0}', seed=1234567890123),
        ),
        synthetic=True,
    )


def minimal_sample() -> Sample:
    return Sample(sample_id="min", task_type="caption", source=Source(file="a.json", record_id="0"))


def test_round_trip_of_every_field_kind(tmp_path: Path) -> None:
    samples = [every_field_sample(), minimal_sample()]
    path = tmp_path / "manifest.parquet"
    assert write_manifest(samples, path) == 2
    assert read_manifest(path) == samples


def test_round_trip_keeps_none_as_not_measured(tmp_path: Path) -> None:
    path = tmp_path / "manifest.parquet"
    write_manifest([every_field_sample()], path)
    (read,) = read_manifest(path)
    assert read.metrics.action_completeness is None
    assert read.metrics.bertscore_precision is None
    assert read.ocr_lines[1].box is None
    assert read.actions[1].point is None and read.actions[1].box is None
    assert read.lineage[0].seed is None
    assert read.actions[0].point == (540.0, 1200.5)


def test_round_trip_of_no_samples(tmp_path: Path) -> None:
    path = tmp_path / "empty.parquet"
    assert write_manifest([], path) == 0
    assert read_manifest(path) == []
    assert pq.read_schema(path).names == SCHEMA.names


def test_file_has_the_declared_schema(tmp_path: Path) -> None:
    path = tmp_path / "manifest.parquet"
    write_manifest([every_field_sample()], path)
    assert pq.read_schema(path).remove_metadata().equals(SCHEMA)


def test_schema_declares_every_record_field_in_order() -> None:
    assert SCHEMA.names == list(Sample.model_fields)

    def struct_names(name: str) -> list[str]:
        field_type = SCHEMA.field(name).type
        if pa.types.is_list(field_type):
            field_type = field_type.value_type
        return [field_type.field(index).name for index in range(field_type.num_fields)]

    assert struct_names("images") == list(ImageRef.model_fields)
    assert struct_names("videos") == list(VideoRef.model_fields)
    assert struct_names("conversations") == list(Turn.model_fields)
    assert struct_names("boxes") == list(Box.model_fields)
    assert struct_names("ocr_lines") == list(OcrLine.model_fields)
    assert struct_names("actions") == list(GuiAction.model_fields)
    assert struct_names("video_events") == list(VideoEvent.model_fields)
    assert struct_names("metrics") == list(Metrics.model_fields)
    assert struct_names("source") == list(Source.model_fields)
    assert struct_names("lineage") == list(LineageOp.model_fields)


def test_schema_types_of_numbers() -> None:
    assert SCHEMA.field("round").type == pa.int32()
    assert SCHEMA.field("boxes").type.value_type.field("x1").type == pa.float64()
    assert SCHEMA.field("lineage").type.value_type.field("seed").type == pa.int64()
    assert SCHEMA.field("metrics").type.field("rounds_compared").type == pa.int32()
    video = SCHEMA.field("videos").type.value_type
    assert [video.field(name).type for name in ("width", "height", "duration_s", "fps", "frames")] == [
        pa.int32(),
        pa.int32(),
        pa.float64(),
        pa.float64(),
        pa.int32(),
    ]


def test_same_samples_give_the_same_bytes(tmp_path: Path) -> None:
    write_manifest([every_field_sample(), minimal_sample()], tmp_path / "a.parquet")
    write_manifest([every_field_sample(), minimal_sample()], tmp_path / "b.parquet")
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()


def test_table_columns_hold_the_values() -> None:
    table = samples_to_table([every_field_sample()])
    assert table.column("boxes").to_pylist()[0][1] == {
        "x1": 10.0,
        "y1": 20.0,
        "x2": 30.0,
        "y2": 40.0,
        "label": "",
        "image_index": 1,
    }
    assert table.column("metrics").to_pylist()[0]["iou_agreement"] == 0.875
    assert table.column("video_events").to_pylist()[0][1] == {"start_s": 1.5, "end_s": 9.7, "description": "settings open"}
    assert table.column("videos").to_pylist()[0][1] == {
        "sha256": "2" * 64,
        "width": 224,
        "height": 224,
        "format": "mp4",
        "duration_s": 5.0,
        "fps": 30.0,
        "frames": 150,
    }


def test_round_trip_keeps_video_rates_exactly(tmp_path: Path) -> None:
    path = tmp_path / "manifest.parquet"
    write_manifest([every_field_sample(), minimal_sample()], path)
    first, minimal = read_manifest(path)
    assert first.videos == (AVI, CLIP) and first.videos[0].fps == 359 / 12  # float64, not rounded
    assert [video.file_name for video in first.videos] == ["1" * 64 + ".avi", "2" * 64 + ".mp4"]
    assert minimal.videos == ()


def test_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "manifest.parquet"
    write_manifest([minimal_sample()], path)

    def failing_replace(source: str, destination: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(store_module.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        write_manifest([every_field_sample()], path)
    assert read_manifest(path) == [minimal_sample()]
    assert [item.name for item in tmp_path.iterdir()] == ["manifest.parquet"]


@pytest.mark.parametrize("count", [0, 1, 2, 3, 5])
def test_written_and_read_by_batches_as_at_once(monkeypatch, tmp_path: Path, count: int) -> None:
    """Batches of two: the file holds one row group per batch and reads back the same samples, in order, either way."""
    monkeypatch.setattr(manifest, "BATCH_ROWS", 2)
    samples = [minimal_sample().model_copy(update={"sample_id": f"s{index}"}) for index in range(count)]
    splits = ["train", "val", "test", "train", "val"][:count]
    path, split_path = tmp_path / "m.parquet", tmp_path / "split.parquet"
    assert manifest.write_manifest(iter(samples), path) == count  # an iterator: never a list in memory
    assert manifest.write_split_manifest(iter(samples), splits, split_path) == count
    assert pq.ParquetFile(path).metadata.num_row_groups == max(1, (count + 1) // 2)
    assert list(manifest.iter_manifest(path)) == read_manifest(path) == samples
    assert manifest.read_split_manifest(split_path) == (samples, splits)


def test_a_split_manifest_needs_one_split_per_sample(tmp_path: Path) -> None:
    path = tmp_path / "split.parquet"
    with pytest.raises(ValueError, match="2 splits for 1 samples"):
        manifest.write_split_manifest([minimal_sample()], ["train", "val"], path)
    assert not path.exists()


def test_samples_are_read_with_the_cyclic_collector_off_and_its_state_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    table = samples_to_table([every_field_sample()] * 3)
    seen: list[bool] = []
    validate = Sample.model_validate
    monkeypatch.setattr(Sample, "model_validate", lambda row: seen.append(gc.isenabled()) or validate(row))
    assert manifest.table_to_samples(table) == [every_field_sample()] * 3
    assert seen == [False] * 3 and gc.isenabled()
    gc.disable()
    try:
        manifest.table_to_samples(table)
        assert not gc.isenabled()  # a caller that turned it off keeps it off
    finally:
        gc.enable()
    monkeypatch.setattr(Sample, "model_validate", lambda row: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        manifest.table_to_samples(table)
    assert gc.isenabled()
