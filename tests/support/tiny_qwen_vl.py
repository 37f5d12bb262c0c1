"""Test support: tiny, randomly initialised Qwen2-VL, Qwen2.5-VL and Qwen3-VL model folders, built offline.

Each folder has the files a released checkpoint of its generation has (``config.json`` with the
generation's ``model_type``, ``generation_config.json``, ``model.safetensors``, ``tokenizer.json``
+ ``tokenizer_config.json``, ``chat_template.jinja``, ``preprocessor_config.json`` naming the
generation's processor), so ``vlforge.preannotate.vlm`` loads it by exactly the code path it
loads a downloaded model by. Its weights are random: answers are noise, which is what the
parsing code must survive. Nothing is downloaded.

What differs between the generations, as in the released checkpoints:

- ``qwen2_vl``: ``Qwen2VLForConditionalGeneration``; 14-pixel patches; CLIP pixel statistics.
- ``qwen2_5_vl``: ``Qwen2_5_VLForConditionalGeneration``; 14-pixel patches; a vision tower with
  windowed attention in some blocks and full attention in others (``fullatt_block_indexes``),
  SwiGLU MLPs and RMSNorm.
- ``qwen3_vl``: ``Qwen3VLForConditionalGeneration``; 16-pixel patches (a 32-pixel resize factor),
  mean and std 0.5, learned position embeddings interpolated to the grid, deepstack features
  (``deepstack_visual_indexes``) added to the first text layers, interleaved M-RoPE, q/k norms;
  its chat template adds no default system turn.

All three read images with transformers' ``Qwen2VLImageProcessor`` (there is no per-generation
image processor class; the generations differ in its settings) and share the tokenizer.

The tokenizer is Qwen2's byte-level BPE with the 256 byte symbols as its whole vocabulary (no
merges), so every UTF-8 text encodes, plus Qwen's special tokens. Importing this module imports
neither torch nor transformers; ``build_tiny_qwen_vl`` does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Generation = Literal["qwen2_vl", "qwen2_5_vl", "qwen3_vl"]
GENERATIONS: tuple[Generation, ...] = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl")

SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

_CONTENT = (
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n{% endif %}"
)
_GENERATION_PROMPT = "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"

# Qwen2-VL-Instruct's and Qwen2.5-VL-Instruct's chat template, images and text only: a default system turn.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    + _CONTENT
    + "{% endfor %}"
    + _GENERATION_PROMPT
)
# Qwen3-VL-Instruct's chat template, images and text only: no default system turn.
QWEN3_VL_CHAT_TEMPLATE = "{% for message in messages %}" + _CONTENT + "{% endfor %}" + _GENERATION_PROMPT

_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


@dataclass(frozen=True)
class _Spec:
    """How one generation differs: classes, tiny sizes, image processor settings, chat template."""

    config_class: str
    model_class: str
    processor_class: str
    image_processor_type: str
    patch_size: int
    image_mean: list[float]
    image_std: list[float]
    chat_template: str
    text_config: dict[str, Any] = field(default_factory=dict)
    vision_config: dict[str, Any] = field(default_factory=dict)


_SPECS: dict[Generation, _Spec] = {
    "qwen2_vl": _Spec(
        config_class="Qwen2VLConfig",
        model_class="Qwen2VLForConditionalGeneration",
        processor_class="Qwen2VLProcessor",
        image_processor_type="Qwen2VLImageProcessor",
        patch_size=14,
        image_mean=_CLIP_MEAN,
        image_std=_CLIP_STD,
        chat_template=CHAT_TEMPLATE,
        text_config={"rope_parameters": {"rope_type": "default", "mrope_section": [2, 2, 4], "rope_theta": 10000.0}},
        vision_config={"depth": 1, "embed_dim": 32, "hidden_size": 32, "num_heads": 2, "mlp_ratio": 2},
    ),
    "qwen2_5_vl": _Spec(
        config_class="Qwen2_5_VLConfig",
        model_class="Qwen2_5_VLForConditionalGeneration",
        processor_class="Qwen2_5_VLProcessor",
        image_processor_type="Qwen2VLImageProcessor",
        patch_size=14,
        image_mean=_CLIP_MEAN,
        image_std=_CLIP_STD,
        chat_template=CHAT_TEMPLATE,
        text_config={"rope_parameters": {"rope_type": "default", "mrope_section": [2, 2, 4], "rope_theta": 1000000.0}},
        # Block 0 attends within 56-pixel windows (2x2 merged patches), block 1 to the whole image.
        vision_config={
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "out_hidden_size": 32,
            "window_size": 56,
            "fullatt_block_indexes": [1],
            "tokens_per_second": 2,
        },
    ),
    "qwen3_vl": _Spec(
        config_class="Qwen3VLConfig",
        model_class="Qwen3VLForConditionalGeneration",
        processor_class="Qwen3VLProcessor",
        image_processor_type="Qwen2VLImageProcessorFast",
        patch_size=16,
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
        chat_template=QWEN3_VL_CHAT_TEMPLATE,
        # head_dim 16 -> 8 rotary frequencies, interleaved t,h,w,t,h,w,t,t as [24, 20, 20] does for 64.
        text_config={
            "head_dim": 16,
            "rope_parameters": {
                "rope_type": "default",
                "mrope_section": [4, 2, 2],
                "mrope_interleaved": True,
                "rope_theta": 5000000.0,
            },
        },
        # An 8x8 table of position embeddings (interpolated to each grid); block 0 feeds deepstack.
        vision_config={
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "out_hidden_size": 32,
            "num_position_embeddings": 64,
            "deepstack_visual_indexes": [0],
        },
    ),
}


def build_tiny_qwen_vl(folder: Path, generation: Generation = "qwen2_vl", seed: int = 0, max_pixels: int | None = None) -> Path:
    """Save a tiny random Qwen-VL model of ``generation`` with its tokenizer and image processor into ``folder``.

    Args:
        folder: where to save it (created).
        generation: ``"qwen2_vl"``, ``"qwen2_5_vl"`` or ``"qwen3_vl"``.
        seed: torch seed for the random weights.
        max_pixels: the image processor's largest resized area; default 16 merged patches
            (``(2 * patch) ** 2 * 16``), small so generation is fast. The smallest is 4 merged patches.

    Returns:
        ``folder``.
    """
    import torch
    import transformers
    from transformers import Qwen2VLImageProcessorPil
    from transformers.convert_slow_tokenizer import bytes_to_unicode
    from transformers.models.qwen2.tokenization_qwen2 import Qwen2Tokenizer

    if generation not in _SPECS:
        raise ValueError(f"unknown Qwen-VL generation {generation!r}; known: {list(_SPECS)}")
    spec = _SPECS[generation]
    factor = 2 * spec.patch_size
    folder = Path(folder)
    vocab = {symbol: index for index, symbol in enumerate(bytes_to_unicode().values())}
    tokenizer = Qwen2Tokenizer(
        vocab=vocab,
        merges=[],
        unk_token="<|endoftext|>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=list(SPECIAL_TOKENS),
    )
    tokenizer.chat_template = spec.chat_template
    token = tokenizer.convert_tokens_to_ids
    config = getattr(transformers, spec.config_class)(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "max_position_embeddings": 4096,
            "bos_token_id": token("<|endoftext|>"),
            "eos_token_id": token("<|im_end|>"),
            "pad_token_id": token("<|endoftext|>"),
            **spec.text_config,
        },
        vision_config={
            "patch_size": spec.patch_size,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            **spec.vision_config,
        },
        image_token_id=token("<|image_pad|>"),
        video_token_id=token("<|video_pad|>"),
        vision_start_token_id=token("<|vision_start|>"),
        vision_end_token_id=token("<|vision_end|>"),
    )
    torch.manual_seed(seed)
    model = getattr(transformers, spec.model_class)(config)
    model.generation_config.eos_token_id = [token("<|im_end|>"), token("<|endoftext|>")]
    model.generation_config.pad_token_id = token("<|endoftext|>")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    Qwen2VLImageProcessorPil(
        min_pixels=factor * factor * 4,
        max_pixels=max_pixels or factor * factor * 16,
        patch_size=spec.patch_size,
        merge_size=2,
        temporal_patch_size=2,
        image_mean=spec.image_mean,
        image_std=spec.image_std,
    ).save_pretrained(folder)
    # As in a released checkpoint: the generation's processor class and the image processor's name.
    preprocessor = folder / "preprocessor_config.json"
    settings = json.loads(preprocessor.read_text(encoding="utf-8"))
    settings |= {"image_processor_type": spec.image_processor_type, "processor_class": spec.processor_class}
    preprocessor.write_text(json.dumps(settings, indent=2), encoding="utf-8")
    return folder

