"""What an op moves together with the pixels: boxes, OCR line boxes, GUI action boxes and points, boxes in text.

A target that an op loses (cropped out, erased, rotated off the image) is kept as ``None`` in its
position, so that later stages can still say which original box, line, action or text box it was,
and ``lost`` says why, in words.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vlforge.records import Box, GuiAction, OcrLine

XYXY = tuple[float, float, float, float]


@dataclass(frozen=True)
class Targets:
    """Everything geometric that belongs to one image of size ``width`` x ``height``.

    ``boxes``, ``ocr_lines``, ``actions`` and ``text_boxes`` keep their original positions;
    ``None`` marks an item lost by an op. ``lost`` holds one line per lost item,
    e.g. ``"boxes[2] 'cup': visible share below 0.5 after random_erasing"``.
    """

    width: int
    height: int
    boxes: tuple[Box | None, ...] = ()
    ocr_lines: tuple[OcrLine | None, ...] = ()
    actions: tuple[GuiAction | None, ...] = ()
    text_boxes: tuple[XYXY | None, ...] = ()
    lost: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"Targets: image size must be positive, got {self.width}x{self.height}")
        for index, box in enumerate(self.boxes):
            if box is not None:
                _check_box(f"boxes[{index}]", (box.x1, box.y1, box.x2, box.y2))
        for index, line in enumerate(self.ocr_lines):
            if line is not None and line.box is not None:
                _check_box(f"ocr_lines[{index}].box", (line.box.x1, line.box.y1, line.box.x2, line.box.y2))
        for index, action in enumerate(self.actions):
            if action is not None and action.box is not None:
                _check_box(f"actions[{index}].box", (action.box.x1, action.box.y1, action.box.x2, action.box.y2))
        for index, text_box in enumerate(self.text_boxes):
            if text_box is not None:
                _check_box(f"text_boxes[{index}]", text_box)

    def live_boxes(self) -> list[XYXY]:
        """Every box still present, of every kind, as ``x1, y1, x2, y2``."""
        found: list[XYXY] = [(b.x1, b.y1, b.x2, b.y2) for b in self.boxes if b is not None]
        found += [(o.box.x1, o.box.y1, o.box.x2, o.box.y2) for o in self.ocr_lines if o is not None and o.box]
        found += [(a.box.x1, a.box.y1, a.box.x2, a.box.y2) for a in self.actions if a is not None and a.box]
        found += [t for t in self.text_boxes if t is not None]
        return found


def _check_box(name: str, box: XYXY) -> None:
    x1, y1, x2, y2 = box
    if not (x2 > x1 and y2 > y1):
        raise ValueError(f"Targets: {name} = {box} has no positive area (need x2 > x1 and y2 > y1)")
