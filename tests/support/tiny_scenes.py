"""Tiny random Stable Diffusion and CLIP model folders built offline from configs: stand-ins for the local models a
``scenes`` recipe names.

Both are saved with ``save_pretrained`` and loaded back by the code path a downloaded model takes
(``AutoPipelineForText2Image`` / ``CLIPModel`` + ``CLIPProcessor`` with ``local_files_only``).
Their weights are random (seeded): images are noise and CLIP scores mean nothing, which is all
tests of the plumbing need. The tokenizer is a real CLIP BPE tokenizer with a tiny vocabulary:
the 256 byte symbols (each also as a word end, ``</w>``) and merges that spell the given words.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlforge.config import Recipe
from vlforge.preannotate.config import PreannotateConfig, VlmConfig
from vlforge.prepare import prepare_run
from vlforge.run import RunDescription
from vlforge.synth.scenes.config import ScenesConfig
from vlforge.synth.scenes.stage import plan_scene_shards, render_scene_shard, write_scene_review

END = "</w>"
START_TOKEN, END_TOKEN = "<|startoftext|>", "<|endoftext|>"
MAX_LENGTH = 77
PROMPTS = ("pedestrians on a rainy street at night", "a red car in thick fog")


def build_tiny_clip_tokenizer(words: list[str]):  # noqa: ANN201 - transformers is imported lazily
    """A ``CLIPTokenizer`` read from a ``vocab.json`` and ``merges.txt`` written for ``words``.

    Args:
        words: words whose letters are merged, left to right, into one token each where merges allow.
    """
    from transformers import CLIPTokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    symbols = list(bytes_to_unicode().values())
    vocab = [START_TOKEN, END_TOKEN, *symbols, *(symbol + END for symbol in symbols)]
    merges: list[str] = []
    for word in dict.fromkeys(word.lower() for word in words):
        pieces = [*word[:-1], word[-1] + END]
        merged = pieces[0]
        for piece in pieces[1:]:
            merges.append(f"{merged} {piece}")
            merged += piece
            vocab.append(merged)
    ordered = list(dict.fromkeys(vocab))
    with tempfile.TemporaryDirectory() as folder:
        vocab_file, merges_file = Path(folder) / "vocab.json", Path(folder) / "merges.txt"
        vocab_file.write_text(json.dumps({token: index for index, token in enumerate(ordered)}), encoding="utf-8")
        merges_file.write_text("#version: 0.2\n" + "\n".join(dict.fromkeys(merges)) + "\n", encoding="utf-8")
        return CLIPTokenizer(str(vocab_file), str(merges_file), model_max_length=MAX_LENGTH)


def _text_config(vocab_size: int) -> dict[str, object]:
    return {
        "vocab_size": vocab_size,
        "hidden_size": 32,
        "intermediate_size": 37,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "max_position_embeddings": MAX_LENGTH,
        "bos_token_id": 0,
        "eos_token_id": 1,
        "pad_token_id": 1,
    }


def build_tiny_stable_diffusion(folder: Path, words: list[str], seed: int = 0) -> Path:
    """Save a tiny random ``StableDiffusionPipeline`` (UNet, VAE, CLIP text encoder, tokenizer, DDIM scheduler) into ``folder``.

    The VAE halves each side once, so a 64x64 image is a 4x32x32 latent.

    Returns:
        ``folder``.
    """
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    tokenizer = build_tiny_clip_tokenizer(words)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=32,
        in_channels=4,
        out_channels=4,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        norm_num_groups=32,
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        block_out_channels=(32, 64),
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
        sample_size=64,
        norm_num_groups=32,
    )
    text_encoder = CLIPTextModel(CLIPTextConfig(**_text_config(len(tokenizer))))
    scheduler = DDIMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False, set_alpha_to_one=False, steps_offset=1
    )
    pipeline = StableDiffusionPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipeline.save_pretrained(folder)
    return Path(folder)


def build_tiny_clip(folder: Path, words: list[str], seed: int = 0) -> Path:
    """Save a tiny random ``CLIPModel`` (32x32 images in 8-pixel patches) and its ``CLIPProcessor`` into ``folder``.

    Returns:
        ``folder``.
    """
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    tokenizer = build_tiny_clip_tokenizer(words)
    config = CLIPConfig(
        text_config=_text_config(len(tokenizer)),
        vision_config={
            "image_size": 32,
            "patch_size": 8,
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
        },
        projection_dim=16,
    )
    torch.manual_seed(seed)
    CLIPModel(config).save_pretrained(folder)
    image_processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)
    return Path(folder)


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """One intra-op torch thread while the block runs: on a shared 2-core machine two spinning OpenMP threads made a
    2-step 64x64 render 20x slower."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@dataclass(frozen=True)
class TinyModels:
    stable_diffusion: Path
    clip: Path
    qwen: Path

    def recipe(self, **scenes: object) -> Recipe:
        """Two prompts, two 64x48 images each in two steps; ``scenes`` overrides any of that."""
        settings = {
            "prompts": PROMPTS,
            "images_per_prompt": 2,
            "width": 64,
            "height": 48,
            "steps": 2,
            "model_path": str(self.stable_diffusion),
            "clip_model_path": str(self.clip),
            "clip_threshold": -1.0,
        }
        vlm = VlmConfig(model_path=str(self.qwen), max_new_tokens=16)
        return Recipe(name="scenes", scenes=ScenesConfig(**(settings | scenes)), preannotate=PreannotateConfig(vlm=vlm))


def generate_scenes(home: Path, models: TinyModels, run_name: str, **scenes: object) -> tuple[RunDescription, dict[str, Any]]:
    """A scenes run of the tiny models under ``home``, every shard rendered and the review written, as the DAG does it."""
    run = prepare_run(home, "scenes", run_name, models.recipe(**scenes), seed=3, scenes=True)
    for shard in plan_scene_shards(run):
        render_scene_shard(run, shard)
    return run, write_scene_review(run)
