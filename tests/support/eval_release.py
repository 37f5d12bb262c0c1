"""Test support: a small published-looking release folder with one test sample per task type, exported for real.

Images are drawn with PIL (no fixture files); the release's exports are written by ``vlforge.export.export_all``
in the three Qwen formats, and ``RELEASE.json`` holds what model evaluation reads (recipe, exports). Every
sample's question is distinct, so a canned server can tell the prompts apart.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

from PIL import Image, ImageDraw

from vlforge.config import Recipe
from vlforge.export import export_all
from vlforge.layout import ReleaseDir
from vlforge.media import store_image, store_video
from vlforge.records import Box, GuiAction, ImageRef, OcrLine, Sample, Source, Turn, VideoEvent, VideoRef
from vlforge.store import ImageStore

FORMATS = ("qwen_vl_chatml", "qwen2_5_vl", "qwen3_vl")
DATASET = "evalset"


def _image(store: ImageStore, release: ReleaseDir, size: tuple[int, int], colour: tuple[int, int, int], name: str) -> ImageRef:
    picture = Image.new("RGB", size, colour)
    ImageDraw.Draw(picture).rectangle((size[0] // 10, size[1] // 10, size[0] // 2, size[1] // 2), fill=(250, 250, 250))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    ref = store_image(buffer.getvalue(), store, name)
    release.images.mkdir(parents=True, exist_ok=True)
    (release.images / ref.file_name).write_bytes(buffer.getvalue())
    return ref


def _video(store: ImageStore, release: ReleaseDir, path: Path) -> VideoRef:
    ref = store_video(path.read_bytes(), store, path.name)
    release.videos.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, release.videos / ref.file_name)
    return ref


def _sample(sample_id: str, task_type: str, **fields: object) -> Sample:
    return Sample(sample_id=sample_id, task_type=task_type, source=Source(file="eval.json", record_id=sample_id), **fields)  # type: ignore[arg-type]


def evaluation_samples(store: ImageStore, release: ReleaseDir, video: Path | None, copies: int = 1) -> list[Sample]:
    """One sample per task type (``copies`` times, with distinct questions); a video sample when ``video`` is given."""
    samples = []
    for copy in range(copies):
        suffix = f" ({copy})" if copies > 1 else ""
        photo = _image(store, release, (400, 300), (30 + copy % 200, 90, 160), f"photo{copy}.png")
        page = _image(store, release, (320, 240), (200, 200, 200 - copy % 200), f"page{copy}.png")
        screen = _image(store, release, (360, 640), (20, 20, 20 + copy % 200), f"screen{copy}.png")
        samples += [
            _sample(
                f"ground{copy:04d}",
                "grounding",
                images=(photo,),
                conversations=(Turn(role="user", content=f"<image>\nWhere is the white square?{suffix}"),),
                boxes=(Box(x1=40, y1=30, x2=200, y2=150, label="white square"),),
            ),
            _sample(
                f"ocr{copy:04d}",
                "ocr",
                images=(page,),
                conversations=(Turn(role="user", content=f"<image>\nThis is a page.{suffix}"), Turn(role="assistant", content="Yes.")),
                ocr_lines=(
                    OcrLine(text="HELLO WORLD", box=Box(x1=20, y1=20, x2=200, y2=50)),
                    OcrLine(text="second line", box=Box(x1=20, y1=80, x2=220, y2=110)),
                ),
            ),
            _sample(
                f"gui{copy:04d}",
                "gui_action",
                images=(screen,),
                conversations=(Turn(role="user", content=f"<image>\nOpen the settings.{suffix}"),),
                actions=(GuiAction(type="click", box=Box(x1=36, y1=64, x2=180, y2=320, label="Settings")),),
            ),
            _sample(
                f"caption{copy:04d}",
                "caption",
                images=(photo,),
                conversations=(
                    Turn(role="user", content=f"<image>\nDescribe this image.{suffix}"),
                    Turn(role="assistant", content="A white square on a blue background."),
                ),
            ),
            _sample(
                f"vqa{copy:04d}",
                "vqa",
                images=(page,),
                conversations=(
                    Turn(role="user", content=f"<image>\nWhat colour is the page?{suffix}"),
                    Turn(role="assistant", content="The page is light grey."),
                ),
            ),
        ]
    if video is not None:
        samples.append(
            _sample(
                "video0000",
                "video_event",
                videos=(_video(store, release, video),),
                conversations=(
                    Turn(role="user", content="<video>\nWhat happens between 1.0s and 3.0s, and from 4.5s?"),
                    Turn(role="assistant", content="Someone waves from 1.0s to 3.0s and leaves from 4.5s to 5.0s."),
                ),
                video_events=(
                    VideoEvent(start_s=1.0, end_s=3.0, description="waves"),
                    VideoEvent(start_s=4.5, end_s=5.0, description="leaves"),
                ),
            )
        )
    return samples


def build_release(root: Path, recipe: Recipe, video: Path | None = None, copies: int = 1) -> tuple[ReleaseDir, list[Sample]]:
    """A release folder under ``root`` whose samples are all in the test split, exported in the Qwen formats.

    Returns:
        The release and its samples.
    """
    release = ReleaseDir(root / "release")
    store = ImageStore(root / "store")
    samples = evaluation_samples(store, release, video, copies)
    recipe = recipe.model_copy(update={"export": recipe.export.model_copy(update={"formats": FORMATS})})
    exports = export_all(samples, ["test"] * len(samples), release.exports, DATASET, recipe)
    content = {
        "dataset": DATASET,
        "recipe": recipe.model_dump(mode="json"),
        "exports": {name: list(result.files) for name, result in exports.items()},
    }
    release.release_json.write_text(json.dumps(content, indent=2), encoding="utf-8")
    return release, samples
