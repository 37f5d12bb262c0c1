"""Turning a sample's structured annotations into conversation turns, the same way for every format.

A sample's own conversation is kept as it is; boxes and OCR lines become one
more user/assistant pair whose answer is written in the target format's box
syntax, which each exporter passes in (boxes on several pictures: one pair per picture). Images and videos are marked in the text
with ``<image>`` and ``<video>`` tags, one per image and per video.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from vlforge.config import Recipe
from vlforge.records import Box, ImageRef, OcrLine, Sample, Turn


class ExportError(ValueError):
    """A record that would break its consumer's rules; names the sample, the field and the value."""


# Every export folder is ``<release>/exports/<format>/``; the release's images are in ``<release>/images/``
# and its videos in ``<release>/videos/``.
IMAGE_PREFIX = "../../images"
VIDEO_PREFIX = "../../videos"


def image_file(folder: Path, sample: Sample, image: ImageRef) -> Path:
    """The release's copy of ``image`` for exporters that embed image bytes (Parquet, WebDataset).

    Args:
        folder: the format's export folder, ``<release>/exports/<format>``.
        sample: the sample the image belongs to, named in the error.
        image: the image.

    Returns:
        ``<release>/images/<sha256>.<ext>``.
    """
    path = folder.parent.parent / "images" / image.file_name
    if not path.is_file():
        raise ExportError(f"sample {sample.sample_id}: image {image.file_name} is missing from {path.parent}")
    return path


# Each box is measured against the image it lies on: ``images[box.image_index]``.
BoxAnswer = Callable[[list[Box], tuple[ImageRef, ...]], str]
OcrAnswer = Callable[[list[OcrLine], tuple[ImageRef, ...]], str]


def training_turns(sample: Sample, recipe: Recipe, boxes_answer: BoxAnswer, ocr_answer: OcrAnswer) -> list[Turn]:
    """The full conversation to train on, with ``<image>`` tags for every image and ``<video>`` tags for every video.

    Boxes answer the conversation's last turn when it is a user question (and the sample has no OCR
    lines); otherwise they answer the recipe's grounding prompt, added as one more pair.
    A conversation without any tag of a kind gets them at the start of its first user turn, images first.
    """
    turns = list(sample.conversations)
    for box in [*sample.boxes, *(line.box for line in sample.ocr_lines if line.box)]:
        if not 0 <= box.image_index < len(sample.images):
            raise ExportError(
                f"sample {sample.sample_id}: box {box.label!r} is on image_index {box.image_index}, "
                f"but the sample has {len(sample.images)} images"
            )
    if sample.ocr_lines:
        turns += _pair(recipe.prompts.ocr, ocr_answer(list(sample.ocr_lines), sample.images))
    if sample.boxes and len(sample.images) > 1:
        # One question per picture: a box answer does not say which picture it is measured on.
        for index in sorted({box.image_index for box in sample.boxes}):
            boxes = [box for box in sample.boxes if box.image_index == index]
            turns += _pair(f"Picture {index + 1}: {recipe.prompts.grounding}", boxes_answer(boxes, sample.images))
    elif sample.boxes and not sample.ocr_lines and turns and turns[-1].role == "user":
        # a referring question ("Where is the search box?") that the boxes answer
        turns.append(Turn(role="assistant", content=boxes_answer(list(sample.boxes), sample.images)))
    elif sample.boxes:
        turns += _pair(recipe.prompts.grounding, boxes_answer(list(sample.boxes), sample.images))
    text = "".join(turn.content for turn in turns)
    prefix = "<image>" * len(sample.images) if "<image>" not in text else ""
    prefix += "<video>" * len(sample.videos) if "<video>" not in text else ""
    if prefix and turns:
        first_user = next(index for index, turn in enumerate(turns) if turn.role == "user")
        turns[first_user] = Turn(role="user", content=prefix + "\n" + turns[first_user].content)
    return turns


def _pair(prompt: str, answer: str) -> list[Turn]:
    return [Turn(role="user", content=prompt), Turn(role="assistant", content=answer)]


def check_alternating(sample: Sample, roles: list[str], user: str, assistant: str) -> None:
    """Trainers expect an optional system turn, then user/assistant pairs, ending with the assistant."""
    body = roles[1:] if roles and roles[0] == "system" else roles
    expected = [user if index % 2 == 0 else assistant for index in range(len(body))]
    if not body or body != expected or len(body) % 2:
        raise ExportError(f"sample {sample.sample_id}: conversation roles {roles} do not alternate {user}/{assistant}")


def merge_system_prompt(turns: list[Turn]) -> list[Turn]:
    """For trainers whose records have no system role: the system prompt opens the first user turn.

    Qwen-VL's ``finetune.py`` and the ``qwen-vl-finetune`` data processor apply their own fixed
    system message and read any other role as the assistant, so a system turn cannot stay a turn.
    """
    system = [turn.content for turn in turns if turn.role == "system"]
    rest = [turn for turn in turns if turn.role != "system"]
    if not system or not rest or rest[0].role != "user":
        return turns  # nothing to merge, or roles that check_alternating refuses with the sample's id
    return [Turn(role="user", content="\n\n".join([*system, rest[0].content])), *rest[1:]]


def check_image_tags(sample: Sample, text: str, tag: str, images: int) -> None:
    found = text.count(tag)
    if found != images:
        raise ExportError(f"sample {sample.sample_id}: {found} {tag} tags for {images} images")


def check_video_tags(sample: Sample, text: str, tag: str = "<video>") -> None:
    """One ``tag`` per video of the sample, as every trainer that reads videos requires."""
    found = text.count(tag)
    if found != len(sample.videos):
        raise ExportError(f"sample {sample.sample_id}: {found} {tag} tags for {len(sample.videos)} videos")


def check_messages(sample: Sample, messages: object) -> None:
    """OpenAI-style ``messages`` (LLaMA-Factory, ms-swift): alternating roles, one tag per image and per video."""
    assert isinstance(messages, list)
    check_alternating(sample, [message["role"] for message in messages], "user", "assistant")
    text = "".join(message["content"] for message in messages)
    check_image_tags(sample, text, "<image>", len(sample.images))
    check_video_tags(sample, text)


def refuse_videos(sample: Sample, format_name: str) -> None:
    """For formats that cannot hold a video: a video sample reaching them is a bug (``export_all`` skips them).

    Raises:
        ExportError: naming the sample, its videos and the format.
    """
    if sample.videos:
        names = ", ".join(video.file_name for video in sample.videos)
        raise ExportError(f"sample {sample.sample_id}: has {len(sample.videos)} videos ({names}); {format_name} cannot hold video")


def with_actions_answer(sample: Sample, answer: str) -> Sample:
    """A copy of a GUI sample whose conversation ends with its actions, rendered as ``answer``.

    The conversation holds the instruction (and any prior steps); the actions answer the last
    user turn, or follow the last assistant turn (a thought) on a new line, as in the Qwen
    mobile-agent cookbooks' "Thought ... Action ... <tool_call>" replies.
    """
    turns = list(sample.conversations)
    if not any(turn.role == "user" for turn in turns):
        raise ExportError(f"sample {sample.sample_id}: {len(sample.actions)} GUI actions but no user instruction")
    if turns[-1].role == "assistant":
        turns[-1] = Turn(role="assistant", content=f"{turns[-1].content}\n{answer}")
    else:
        turns.append(Turn(role="assistant", content=answer))
    return sample.model_copy(update={"conversations": tuple(turns)})
