"""Drawing a sample's annotations on its first image: boxes with labels, OCR line boxes with their text, GUI targets.

The report's pictures and the dashboard's thumbnails are both drawn here.
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageDraw

from vlforge.records import Box, Sample

THUMBNAIL_SIDE = 480
_COLOURS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#9a6324"]


def labelled_boxes(sample: Sample) -> list[tuple[Box, str]]:
    """The first image's boxes, OCR line boxes and GUI action targets, each with its label."""
    labelled = [(box, box.label) for box in sample.boxes if box.image_index == 0]
    labelled += [(line.box, line.text) for line in sample.ocr_lines if line.box and line.box.image_index == 0]
    return labelled + [
        (action.box, f"{action.type} {action.text}".strip()) for action in sample.actions if action.box and action.box.image_index == 0
    ]


def draw_annotations(image_path: Path, rounds: list[Sample], colours: list[str] | None = None, side: int = THUMBNAIL_SIDE) -> bytes:
    """``image_path`` (the rounds' first image) with their boxes, OCR lines and GUI targets drawn, as a JPEG.

    A GUI action's point is drawn as a ring. The picture is scaled to fit ``side`` pixels after drawing.

    Raises:
        OSError: when the image cannot be read (PIL's ``UnidentifiedImageError`` is one).
    """
    with Image.open(image_path) as source:
        image = source.convert("RGB")
    draw = ImageDraw.Draw(image)
    line_width = max(2, round(max(image.size) / 250))
    for round_index, sample in enumerate(rounds):
        for index, (box, label) in enumerate(labelled_boxes(sample)):
            colour = colours[round_index] if colours else _COLOURS[index % len(_COLOURS)]
            draw.rectangle((box.x1, box.y1, box.x2, box.y2), outline=colour, width=line_width)
            if label:
                text_box = draw.textbbox((box.x1, box.y1), label)
                draw.rectangle(text_box, fill=colour)
                draw.text((box.x1, box.y1), label, fill="white")
        for action in sample.actions:
            if action.point is not None:
                x, y = action.point
                radius = 4 * line_width
                draw.ellipse((x - radius, y - radius, x + radius, y + radius), outline=colours[round_index] if colours else "#e6194b", width=line_width)
    image.thumbnail((side, side))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()
