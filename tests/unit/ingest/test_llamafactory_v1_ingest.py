"""LLaMA-Factory's "v1" messages form: content as a list of typed parts, read by the ``llamafactory`` adapter.

The fixture is LLaMA-Factory's ``data/v1_multimodal_demo.jsonl``: the six ``mllm_demo.json`` records
four times over (24 lines), with ``image_url`` parts naming ``data/mllm_demo_data/<n>.jpg`` relative to
the LLaMA-Factory checkout, the folder above ``data/``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

V1_DEMO = "llamafactory/data/v1_multimodal_demo.jsonl"
DEMO_DATA = "llamafactory/data/mllm_demo_data"
# Image names per record of mllm_demo.json, which the v1 demo repeats in order.
DEMO_IMAGES = [["1.jpg", "1.jpg"], ["2.jpg"], ["3.jpg"], ["1.jpg", "1.jpg"], ["2.jpg"], ["3.jpg"]]


def _text(value: str) -> dict:
    return {"type": "text", "value": value}


def _image(value: str) -> dict:
    return {"type": "image_url", "value": value}


def _write_jsonl(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records), encoding="utf-8")
    return path


def _reply(*parts: dict) -> dict:
    return {"messages": [{"role": "user", "content": list(parts)}, {"role": "assistant", "content": [_text("Yes.")]}]}


def test_v1_demo_reads_like_the_sharegpt_demo(fixtures_dir, ingest, sha256):
    run = ingest(fixtures_dir / V1_DEMO, "llamafactory", images_root=fixtures_dir / "llamafactory")
    sharegpt = ingest(fixtures_dir / "llamafactory/data/mllm_demo.json", "llamafactory")

    assert run.quarantine == []
    assert run.stats["rows_in"] == 24
    assert [(s.source.file, s.source.record_id, s.task_type) for s in run.samples] == [
        ("v1_multimodal_demo.jsonl", f"line {number}", "vqa") for number in range(1, 25)
    ]
    assert [len(s.images) for s in run.samples] == [2, 1, 1, 2, 1, 1] * 4
    assert [len(s.conversations) for s in run.samples] == [4] * 24
    assert sum(len(s.images) for s in run.samples) == 32
    assert all(s.videos == () for s in run.samples)

    first = run.sample("line 1")
    assert [(turn.role, turn.content) for turn in first.conversations] == [
        ("user", "<image>Who are they?"),
        ("assistant", "They're Kane and Gretzka from Bayern Munich."),
        ("user", "What are they doing?<image>"),
        ("assistant", "They are celebrating on the soccer field."),
    ]
    assert [turn.content for turn in run.sample("line 4").conversations] == [
        "<image>他们是谁？",
        "他们是拜仁慕尼黑的凯恩和格雷茨卡。",
        "他们在做什么？<image>",
        "他们在足球场上庆祝。",
    ]
    # Every v1 line is the sharegpt record it repeats: same turns, same stored images.
    for index, sample in enumerate(run.samples):
        twin = sharegpt.samples[index % 6]
        assert (sample.conversations, sample.images) == (twin.conversations, twin.images)
    for sample, names in zip(run.samples, DEMO_IMAGES * 4, strict=True):
        expected = [sha256((fixtures_dir / DEMO_DATA / name).read_bytes()) for name in names]
        assert [image.sha256 for image in sample.images] == expected
    assert (first.images[0].width, first.images[0].height) == (300, 168)
    assert len(run.stored_files()) == 3


def test_v1_demo_without_the_checkout_as_images_root_is_quarantined(fixtures_dir, ingest):
    # "data/mllm_demo_data/1.jpg" looked up under the file's own folder (data/) is data/data/..., which does not exist.
    run = ingest(fixtures_dir / V1_DEMO, "llamafactory")

    assert run.samples == []
    assert [(q["source_file"], q["record_id"], q["reason"], q["field"], q["value"]) for q in run.quarantine] == [
        (
            "v1_multimodal_demo.jsonl",
            f"line {index + 1}",
            f"image file not found (looked at: data/mllm_demo_data/{names[0]})",
            "messages[0].content[0].value",
            f"data/mllm_demo_data/{names[0]}",
        )
        for index, names in enumerate(DEMO_IMAGES * 4)
    ]


def test_local_copy_maps_parts_in_order_with_videos_and_sharegpt_lines(fixtures_dir, tmp_path, ingest, sha256):
    checkout = tmp_path / "LLaMA-Factory"
    shutil.copytree(fixtures_dir / DEMO_DATA, checkout / "data" / "mllm_demo_data")
    video = {"type": "video_url", "value": "data/mllm_demo_data/4.mp4"}
    source = _write_jsonl(
        checkout / "data" / "mixed.jsonl",
        [
            {
                "system": "Answer briefly.",
                "messages": [
                    {"role": "user", "content": [_text("Compare "), _image("data/mllm_demo_data/2.jpg"), _text(" and "), video]},
                    {"role": "assistant", "content": [_text("Both show people.")]},
                    {"role": "user", "content": [_image("data/mllm_demo_data/3.jpg"), _image("data/mllm_demo_data/1.jpg")]},
                    {"role": "assistant", "content": [_text("Two "), _text("more.")]},
                ],
            },
            # The sharegpt form in the same file is still read: the form is told record by record.
            {"messages": [{"role": "user", "content": "<image>Who?"}, {"role": "assistant", "content": "Kane."}], "images": ["mllm_demo_data/1.jpg"]},
        ],
    )

    run = ingest(source, "llamafactory", images_root=checkout)

    assert run.quarantine == []
    mixed = run.sample("line 1")
    assert [(turn.role, turn.content) for turn in mixed.conversations] == [
        ("system", "Answer briefly."),
        ("user", "Compare <image> and <video>"),
        ("assistant", "Both show people."),
        ("user", "<image><image>"),
        ("assistant", "Two more."),
    ]
    assert [image.sha256 for image in mixed.images] == [
        sha256((checkout / "data/mllm_demo_data" / name).read_bytes()) for name in ("2.jpg", "3.jpg", "1.jpg")
    ]
    assert [(v.sha256, v.width, v.height, v.frames, v.format) for v in mixed.videos] == [
        (sha256((checkout / "data/mllm_demo_data/4.mp4").read_bytes()), 224, 224, 150, "mp4")
    ]
    sharegpt = run.sample("line 2")
    assert [turn.content for turn in sharegpt.conversations] == ["<image>Who?", "Kane."]
    assert sharegpt.images == (mixed.images[2],)


@pytest.mark.parametrize(
    ("record", "reason", "field", "value"),
    [
        (
            {"messages": [{"role": "assistant", "content": [{"type": "reasoning", "value": "Think."}, _text("Yes.")]}]},
            "content part type 'reasoning' is not supported (known: text, image_url, video_url)",
            "messages[0].content[0].type",
            "reasoning",
        ),
        (
            _reply(_image("1.jpg"), {"type": "tool_call", "value": '{"name": "zoom"}'}),
            "content part type 'tool_call' is not supported (known: text, image_url, video_url)",
            "messages[0].content[1].type",
            "tool_call",
        ),
        (
            _reply(_image("1.jpg"), {"value": "no type"}),
            "content part has no string 'type'",
            "messages[0].content[1]",
            '{"value": "no type"}',
        ),
        (
            _reply(_image("1.jpg"), "a bare string"),
            "content part is not an object with 'type' and 'value'",
            "messages[0].content[1]",
            "a bare string",
        ),
        (
            _reply({"type": "image_url", "image_url": {"url": "1.jpg"}}),
            "image_url part has no string 'value'",
            "messages[0].content[0].value",
            '{"type": "image_url", "image_url": {"url": "1.jpg"}}',
        ),
        (
            _reply(_image("1.jpg"), {"type": "text", "value": 42}),
            "text part has no string 'value'",
            "messages[0].content[1].value",
            '{"type": "text", "value": 42}',
        ),
        (
            {"messages": [{"role": "user", "content": []}, {"role": "assistant", "content": [_text("Yes.")]}]},
            "turn 'content' is not a non-empty list of typed parts",
            "messages[0].content",
            "[]",
        ),
        (
            {"messages": [{"role": "user", "content": [_image("1.jpg"), _text("Who?")]}, {"role": "assistant", "content": "Kane."}]},
            "turn 'content' is not a non-empty list of typed parts",
            "messages[1].content",
            "Kane.",
        ),
        (
            {"messages": [{"role": "tool", "content": [_text("42")]}]},
            "turn has no known 'role'",
            "messages[0]",
            '{"role": "tool", "content": [{"type": "text", "value": "42"}]}',
        ),
        (
            _reply(_image("1.jpg"), _text("<image>Who?")),
            "text part holds a literal <image> tag; media go in image_url/video_url parts",
            "messages[0].content[1].value",
            "<image>Who?",
        ),
        (
            {**_reply(_image("1.jpg"), _text("Who?")), "images": ["1.jpg"]},
            "record has typed content parts and an 'images' list; its media must be named in its parts only",
            "images",
            '["1.jpg"]',
        ),
        (
            _reply(_image("data:image/png;base64," + "iVBORw0KGgo" * 40), _text("Who?")),
            "image reference is a data: URL; only paths and http(s) URLs are resolved",
            "messages[0].content[0].value",
            ("data:image/png;base64," + "iVBORw0KGgo" * 40)[:199] + "…",
        ),
        (
            _reply(_image("missing.jpg"), _text("Who?")),
            "image file not found (looked at: missing.jpg)",
            "messages[0].content[0].value",
            "missing.jpg",
        ),
        (
            _reply(_text("Who?")),
            "record has no image or video",
            "images",
            "",
        ),
    ],
    ids=[
        "reasoning-part",
        "tool-call-part",
        "part-without-type",
        "part-not-object",
        "openai-style-image-url",
        "text-value-not-string",
        "empty-content",
        "string-turn-in-v1-record",
        "unknown-role",
        "literal-image-tag",
        "images-key-beside-parts",
        "data-url",
        "missing-image",
        "text-only",
    ],
)
def test_malformed_parts_are_quarantined_naming_file_record_field_and_value(
    fixtures_dir, tmp_path, ingest, record, reason, field, value
):
    shutil.copy(fixtures_dir / DEMO_DATA / "1.jpg", tmp_path / "1.jpg")
    good = _reply(_image("1.jpg"), _text("Who?"))
    source = _write_jsonl(tmp_path / "bad.jsonl", [good, record])

    run = ingest(source, "llamafactory")

    assert [s.source.record_id for s in run.samples] == ["line 1"]
    assert run.quarantine == [{"source_file": "bad.jsonl", "record_id": "line 2", "reason": reason, "field": field, "value": value}]


def test_unreachable_image_url_part_is_quarantined(tmp_path, ingest):
    # Nothing listens on port 9 of the loopback: the download fails at once, as an internet URL does offline.
    source = _write_jsonl(tmp_path / "remote.jsonl", [_reply(_image("http://127.0.0.1:9/photos/1.jpg"), _text("Who?"))])

    run = ingest(source, "llamafactory")

    assert run.samples == []
    (rejection,) = run.quarantine
    assert (rejection["record_id"], rejection["field"], rejection["value"]) == (
        "line 1",
        "messages[0].content[0].value",
        "http://127.0.0.1:9/photos/1.jpg",
    )
    assert rejection["reason"].startswith("image URL could not be downloaded (")
    assert rejection["reason"].endswith(") and not found at: photos/1.jpg")
