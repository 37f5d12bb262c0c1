"""Canonical samples built by hand for the exporter tests; every exported value is computed from these.

Plain functions (not fixtures) so that tests can build variants; imported as ``export_samples``.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from vlforge.records import Box, GuiAction, ImageRef, OcrLine, Sample, Source, Turn, VideoRef

# The official finetune demo's COCO photo is 640x428 (qwen3vl_finetune/demo/images).
COCO = ImageRef(sha256="a" * 64, width=640, height=428, format="jpg")
WIDE = ImageRef(sha256="b" * 64, width=1000, height=500, format="png")
SMALL = ImageRef(sha256="c" * 64, width=200, height=100, format="png")
# The Qwen2.5-VL cookbook's English phone screenshot is 1080x2400 (qwen25vl_cookbook_gui/assets).
PHONE = ImageRef(sha256="d" * 64, width=1080, height=2400, format="png")
GUI_INSTRUCTION = "Open the file manager app and view the au_uu_SzH3yR2.mp3 file in MUSIC Folder"
PREFIX = "../../images"
VIDEO_PREFIX = "../../videos"
# LLaMA-Factory's demo video 4.mp4: 224x224, 150 frames at 30 fps, 5.0 s.
CLIP = VideoRef(sha256="f" * 64, width=224, height=224, format="mp4", duration_s=5.0, fps=30.0, frames=150)
GROUNDING_PROMPT = "Locate every object in the image and output its label and bounding box."
OCR_PROMPT = "Read all the text in the image, line by line, with the position of each line."


def path_of(image: ImageRef) -> str:
    return f"{PREFIX}/{image.sha256}.{image.format}"


def video_path_of(video: VideoRef) -> str:
    return f"{VIDEO_PREFIX}/{video.sha256}.{video.format}"


def video_sample() -> Sample:
    """A record of LLaMA-Factory's mllm_video_demo.json: one ``<video>`` tag, one video."""
    return Sample(
        sample_id="video-1",
        task_type="vqa",
        videos=(CLIP,),
        conversations=(
            Turn(role="user", content="<video>What's in the video?"),
            Turn(role="assistant", content="A baby is playing in the living room."),
        ),
        source=Source(file="mllm_video_demo.json", record_id="2"),
    )


def grounding_sample() -> Sample:
    """One photo, no conversation, one box: the notebook's "bowl of carrots" [146, 137, 615, 415]."""
    return Sample(
        sample_id="grounding-1",
        task_type="grounding",
        images=(COCO,),
        boxes=(Box(x1=146, y1=137, x2=615, y2=415, label="bowl of carrots"),),
        source=Source(file="coco.json", record_id="580957"),
    )


def multi_image_sample() -> Sample:
    """Two images with their own tags, a conversation, and a box on the second (200x100) image."""
    return Sample(
        sample_id="multi-1",
        task_type="vqa",
        images=(WIDE, SMALL),
        conversations=(
            Turn(role="user", content="<image>\n<image>\nWhat changed between the two screens?"),
            Turn(role="assistant", content="The dialog closed."),
        ),
        boxes=(Box(x1=50, y1=25, x2=150, y2=75, label="dialog", image_index=1),),
        source=Source(file="screens.json", record_id="7"),
    )


def ocr_sample() -> Sample:
    """A 1000x500 page with a positioned line, an unpositioned line, and a box."""
    return Sample(
        sample_id="ocr-1",
        task_type="ocr",
        images=(WIDE,),
        ocr_lines=(
            OcrLine(text="SALE", box=Box(x1=100, y1=50, x2=500, y2=100)),
            OcrLine(text="50% off"),
        ),
        boxes=(Box(x1=0, y1=0, x2=1000, y2=500, label="poster"),),
        source=Source(file="ocr.json", record_id="poster"),
    )


def caption_sample() -> Sample:
    return Sample(
        sample_id="caption-1",
        task_type="caption",
        images=(COCO,),
        conversations=(
            Turn(role="user", content="Describe this image."),
            Turn(role="assistant", content="Carrots in a bowl, 胡萝卜."),
        ),
        source=Source(file="captions.json", record_id="1"),
    )


def system_sample() -> Sample:
    return Sample(
        sample_id="system-1",
        task_type="vqa",
        images=(COCO,),
        conversations=(
            Turn(role="system", content="You are a kitchen assistant."),
            Turn(role="user", content="<image>What is in the bowl?"),
            Turn(role="assistant", content="Carrots."),
        ),
        source=Source(file="sharegpt.json", record_id="3"),
    )


def text_only_sample() -> Sample:
    return Sample(
        sample_id="text-1",
        task_type="vqa",
        conversations=(Turn(role="user", content="Hi"), Turn(role="assistant", content="Hello")),
        source=Source(file="chat.json", record_id="1"),
    )


def with_images(sample: Sample, *images: ImageRef) -> Sample:
    return sample.model_copy(update={"images": images})


def gui_sample(*actions: GuiAction) -> Sample:
    """A phone screenshot, the cookbook's instruction, and by default one click on a box centred at (925, 405).

    The cookbook's model answers ``click`` at ``[935, 406]`` on the 1092x2408 resized screen, which is
    (925, 405) on the 1080x2400 screenshot: 925 * 1092 / 1080 = 935.3, 405 * 2408 / 2400 = 406.4.
    """
    return Sample(
        sample_id="gui-1",
        task_type="gui_action",
        images=(PHONE,),
        conversations=(Turn(role="user", content=GUI_INSTRUCTION),),
        actions=actions or (GuiAction(type="click", box=Box(x1=880, y1=380, x2=970, y2=430), text="MUSIC"),),
        source=Source(file="gui.json", record_id="1"),
    )


def write_images(release: Path, *images: ImageRef) -> Path:
    """Real image files for ``images`` in ``release/images`` (what the release links before exporting).

    Each image is filled with a colour taken from its sha256, so that tests can tell them apart.
    """
    folder = release / "images"
    folder.mkdir(parents=True, exist_ok=True)
    for image in images:
        colour = tuple(int(image.sha256[index : index + 2], 16) for index in (0, 2, 4))
        Image.new("RGB", (image.width, image.height), colour).save(folder / image.file_name)
    return folder
