"""A tiny, randomly initialised Qwen2-VL model folder, built offline, for tests and smoke runs.

It has the files a real Qwen2-VL checkpoint has (``config.json``, ``generation_config.json``,
``model.safetensors``, ``tokenizer.json`` + ``tokenizer_config.json``, ``chat_template.jinja``,
``preprocessor_config.json`` naming ``Qwen2VLProcessor``), so ``vlforge.preannotate.vlm`` loads
it by exactly the code path it loads a downloaded model by. Its weights are random: answers are
noise, which is what the parsing code must survive. Nothing is downloaded.

The tokenizer is Qwen2's byte-level BPE with the 256 byte symbols as its whole vocabulary (no
merges), so every UTF-8 text encodes, plus Qwen's special tokens. Importing this module imports
neither torch nor transformers; ``build_tiny_qwen2_vl`` does.
"""

from __future__ import annotations

import json
from pathlib import Path

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

# Qwen2-VL-Instruct's chat template, images and text only.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_tiny_qwen2_vl(folder: Path, seed: int = 0, max_pixels: int = 28 * 28 * 16) -> Path:
    """Save a tiny random Qwen2-VL model with its tokenizer and image processor into ``folder``.

    Args:
        folder: where to save it (created).
        seed: torch seed for the random weights.
        max_pixels: the image processor's largest resized area (small keeps generation fast).

    Returns:
        ``folder``.
    """
    import torch
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLImageProcessorPil
    from transformers.convert_slow_tokenizer import bytes_to_unicode
    from transformers.models.qwen2.tokenization_qwen2 import Qwen2Tokenizer

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
    tokenizer.chat_template = CHAT_TEMPLATE
    token = tokenizer.convert_tokens_to_ids
    config = Qwen2VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "max_position_embeddings": 4096,
            "rope_parameters": {"rope_type": "default", "mrope_section": [2, 2, 4], "rope_theta": 10000.0},
            "bos_token_id": token("<|endoftext|>"),
            "eos_token_id": token("<|im_end|>"),
            "pad_token_id": token("<|endoftext|>"),
        },
        vision_config={
            "depth": 1,
            "embed_dim": 32,
            "hidden_size": 32,
            "num_heads": 2,
            "mlp_ratio": 2,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
        },
        image_token_id=token("<|image_pad|>"),
        video_token_id=token("<|video_pad|>"),
        vision_start_token_id=token("<|vision_start|>"),
        vision_end_token_id=token("<|vision_end|>"),
    )
    torch.manual_seed(seed)
    model = Qwen2VLForConditionalGeneration(config)
    model.generation_config.eos_token_id = [token("<|im_end|>"), token("<|endoftext|>")]
    model.generation_config.pad_token_id = token("<|endoftext|>")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    Qwen2VLImageProcessorPil(min_pixels=56 * 56, max_pixels=max_pixels).save_pretrained(folder)
    # As in a released checkpoint: the processor class and the backend-neutral image processor name.
    preprocessor = folder / "preprocessor_config.json"
    settings = json.loads(preprocessor.read_text(encoding="utf-8"))
    settings |= {"image_processor_type": "Qwen2VLImageProcessor", "processor_class": "Qwen2VLProcessor"}
    preprocessor.write_text(json.dumps(settings, indent=2), encoding="utf-8")
    return folder
