"""Trainer-format files read back: LLaMA-Factory's mllm_demo.json and Qwen3-VL's finetune demo."""

from __future__ import annotations

LLAMAFACTORY = "llamafactory/data/mllm_demo.json"
QWEN = "qwen3vl_finetune"


def test_llamafactory_demo_en_and_zh(fixtures_dir, ingest, sha256):
    run = ingest(fixtures_dir / LLAMAFACTORY, "llamafactory")

    assert run.quarantine == []
    assert [(s.source.file, s.source.record_id, s.task_type) for s in run.samples] == [
        ("mllm_demo.json", str(index), "vqa") for index in range(6)
    ]
    for sample in run.samples:
        tags = sum(turn.content.count("<image>") for turn in sample.conversations)
        assert tags == len(sample.images)
        assert [turn.role for turn in sample.conversations] == ["user", "assistant", "user", "assistant"]

    two_images = run.sample("0")
    assert [(turn.role, turn.content) for turn in two_images.conversations] == [
        ("user", "<image>Who are they?"),
        ("assistant", "They're Kane and Gretzka from Bayern Munich."),
        ("user", "What are they doing?<image>"),
        ("assistant", "They are celebrating on the soccer field."),
    ]
    one_jpg = (fixtures_dir / "llamafactory/data/mllm_demo_data/1.jpg").read_bytes()
    assert [image.sha256 for image in two_images.images] == [sha256(one_jpg), sha256(one_jpg)]
    assert (two_images.images[0].width, two_images.images[0].height) == (300, 168)

    chinese = run.sample("3")
    assert [turn.content for turn in chinese.conversations] == [
        "<image>他们是谁？",
        "他们是拜仁慕尼黑的凯恩和格雷茨卡。",
        "他们在做什么？<image>",
        "他们在足球场上庆祝。",
    ]
    assert chinese.images == two_images.images
    assert [len(s.images) for s in run.samples] == [2, 1, 1, 2, 1, 1]
    assert [(s.images[0].width, s.images[0].height) for s in run.samples[1:3]] == [(300, 199), (300, 166)]
    assert run.sample("5").conversations[1].content == "中国宇航员桂海潮正在讲话。"
    # 1.jpg, 2.jpg and 3.jpg, each stored once under its sha256 although named eight times.
    stored = run.stored_files()
    assert len(stored) == 3
    assert all(path.name == f"{sha256(path.read_bytes())}.jpg" for path in stored)


def test_qwen_finetune_demo_with_data_path_as_images_root(fixtures_dir, ingest, sha256):
    # Paths like "demo/images/10095.png" are relative to qwen-vl-finetune's data_path, the folder above demo/.
    run = ingest(fixtures_dir / QWEN / "demo" / "single_images.json", "qwen", images_root=fixtures_dir / QWEN)

    assert run.quarantine == []
    assert [(s.source.file, s.source.record_id, s.task_type) for s in run.samples] == [
        ("single_images.json", "0", "vqa"),
        ("single_images.json", "1", "vqa"),
        ("single_images.json", "2", "vqa"),
    ]
    assert [[(turn.role, turn.content) for turn in s.conversations] for s in run.samples] == [
        [("user", "Is the value of Favorable 38 in 2015?\n<image>"), ("assistant", "Yes")],
        [("user", "How many values are below 40 in Unfavorable graph?\n<image>"), ("assistant", "6")],
        [("user", "In which year the value was 51?\n<image>"), ("assistant", "2014")],
    ]
    chart = (fixtures_dir / QWEN / "demo/images/10095.png").read_bytes()
    first, second, third = run.samples
    assert first.images == second.images
    assert (first.images[0].sha256, first.images[0].width, first.images[0].height, first.images[0].format) == (
        sha256(chart),
        422,
        359,
        "png",
    )
    assert (third.images[0].width, third.images[0].height) == (314, 281)
    assert len(run.stored_files()) == 2


def test_qwen_finetune_demo_without_images_root_is_quarantined(fixtures_dir, ingest):
    run = ingest(fixtures_dir / QWEN / "demo" / "single_images.json", "qwen")

    assert run.samples == []
    assert [(q["record_id"], q["reason"], q["field"], q["value"]) for q in run.quarantine] == [
        ("0", "image file not found (looked at: demo/images/10095.png)", "image[0]", "demo/images/10095.png"),
        ("1", "image file not found (looked at: demo/images/10095.png)", "image[0]", "demo/images/10095.png"),
        ("2", "image file not found (looked at: demo/images/10149.png)", "image[0]", "demo/images/10149.png"),
    ]
