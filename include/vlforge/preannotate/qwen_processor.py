"""An image-only Qwen-VL processor for machines without torchvision.

``Qwen2VLProcessor``, ``Qwen2_5_VLProcessor`` and ``Qwen3VLProcessor`` treat an image the same
way: the chat template writes ``<|vision_start|><|image_pad|><|vision_end|>``, the image
processor cuts the image into patches on a ``(t, h, w)`` grid, and the single ``<|image_pad|>``
is repeated once per merged patch, ``t * h * w / merge_size**2`` times. In transformers 5 each
of them also requires a video processor, which needs torchvision; this class does the image part
with transformers' own ``ProcessorMixin`` machinery (placeholder expansion, ``mm_token_type_ids``,
the chat template, decoding) and nothing else.

Importing this module imports transformers: ``vlforge.preannotate.vlm`` imports it lazily.
"""

from __future__ import annotations

from typing import Any

from transformers import ProcessorMixin


class ImageOnlyQwenProcessor(ProcessorMixin):
    """Tokenizer + Qwen-VL image processor + chat template, for image-and-text prompts."""

    return_mm_token_type_ids = True

    def __init__(self, image_processor: Any = None, tokenizer: Any = None, chat_template: str | None = None, **kwargs: Any) -> None:
        self.image_token = getattr(tokenizer, "image_token", None) or "<|image_pad|>"
        self.image_token_id = getattr(tokenizer, "image_token_id", None) or tokenizer.convert_tokens_to_ids(self.image_token)
        super().__init__(image_processor, tokenizer, chat_template=chat_template, **kwargs)

    def replace_image_token(self, image_inputs: dict, image_idx: int, **kwargs: Any) -> str:
        merge_length = self.image_processor.merge_size**2
        return self.image_token * int(image_inputs["image_grid_thw"][image_idx].prod() // merge_length)
