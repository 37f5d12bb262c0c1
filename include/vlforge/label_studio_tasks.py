"""Samples written back as Label Studio results and tasks: for review and for pre-annotation.

The results use the same conventions that ``vlforge.ingest.label_studio`` reads
(``rectanglelabels`` in percent of ``original_width/height``, a per-region
``textarea`` named ``transcription`` sharing the rectangle's id, a whole-image
``textarea`` named ``caption``), so whatever a person accepts in Label Studio
reads back into vlforge unchanged.
"""

from __future__ import annotations

from html import escape
from typing import Any

from vlforge.geometry import xyxy_to_label_studio_percent
from vlforge.records import Box, ImageRef, Sample


def region(region_id: str, box: Box, image: ImageRef, label: str) -> dict[str, Any]:
    x, y, width, height = xyxy_to_label_studio_percent((box.x1, box.y1, box.x2, box.y2), image.width, image.height)
    return {
        "id": region_id,
        "type": "rectanglelabels",
        "from_name": "label",
        "to_name": "image",
        "original_width": image.width,
        "original_height": image.height,
        "image_rotation": 0,
        "value": {"x": x, "y": y, "width": width, "height": height, "rotation": 0, "rectanglelabels": [label]},
    }


def transcription(region_id: str, box: Box, image: ImageRef, text: str) -> dict[str, Any]:
    result = region(region_id, box, image, "Text")
    value = {key: item for key, item in result["value"].items() if key != "rectanglelabels"}
    return result | {"type": "textarea", "from_name": "transcription", "value": value | {"text": [text]}}


def caption(region_id: str, text: str) -> dict[str, Any]:
    return {"id": region_id, "type": "textarea", "from_name": "caption", "to_name": "image", "value": {"text": [text]}}


def sample_results(sample: Sample, prefix: str) -> list[dict[str, Any]]:
    """A sample's boxes, OCR lines and answers on its first image as Label Studio results."""
    image = sample.images[0]
    results = [
        region(f"{prefix}b{index}", box, image, box.label) for index, box in enumerate(sample.boxes) if box.image_index == 0
    ]
    for index, line in enumerate(sample.ocr_lines):
        if line.box is not None and line.box.image_index == 0:
            results += [region(f"{prefix}t{index}", line.box, image, "Text"), transcription(f"{prefix}t{index}", line.box, image, line.text)]
    answers = [turn.content for turn in sample.conversations if turn.role == "assistant"]
    results += [caption(f"{prefix}c{index}", text) for index, text in enumerate(answers)]
    return results


def label_config(labels: list[str]) -> str:
    """A labeling config that shows every result kind these tasks carry."""
    choices = "".join(f'\n    <Label value="{escape(label, quote=True)}"/>' for label in sorted({*labels, "Text"}))
    return f"""<View>
  <Image name="image" value="$image"/>
  <RectangleLabels name="label" toName="image">{choices}
  </RectangleLabels>
  <TextArea name="transcription" toName="image" editable="true" perRegion="true" required="false"/>
  <TextArea name="caption" toName="image" editable="true" maxSubmissions="1" required="false"/>
</View>
"""
