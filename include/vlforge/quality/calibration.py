"""Calibrating a BERTScore threshold for one encoder on human captions.

The question a per-sample threshold answers is "did two annotators describe the
same image?". So the evidence is a caption set where several people captioned
each image: every pair of captions of one image (by different people) must pass,
every pair of captions of different images must fail. ``calibrate`` scores both
kinds of pairs with the encoder, reports how well the scores separate them (ROC
AUC: the chance that a random same-image pair outscores a random different-image
pair) and picks the threshold with the fewest errors, false accepts plus false
rejects. ``vlforge calibrate`` prints the result as a recipe entry
(``quality.text_encoders``).

Caption files are either ``{image: [caption, ...]}`` (pycocoevalcap's reference
files) or COCO captions (``annotations`` of ``image_id`` and ``caption``).
"""

from __future__ import annotations

import itertools
import json
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vlforge.quality.config import Calibration, EncoderThresholds, TextEncoderConfig

# Above this many different-image pairs, a seeded sample of this size is scored: all pairs grow with
# the square of the caption count, and the error rates need only a few thousand.
MAX_DIFFERENT_IMAGE_PAIRS = 5000

PairScorer = Callable[[list[str], list[str]], list[tuple[float, float, float]]]


class CaptionFileError(ValueError):
    pass


def load_captions(path: Path) -> dict[str, list[str]]:
    """Captions per image from ``{image: [captions]}`` or a COCO captions file.

    Raises:
        CaptionFileError: naming the file, the entry and the field that is wrong.
    """
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise CaptionFileError(f"{path}: cannot read captions: {error}") from None
    if isinstance(raw, dict) and "annotations" in raw:
        captions: dict[str, list[str]] = defaultdict(list)
        for index, annotation in enumerate(raw["annotations"]):
            caption = annotation.get("caption") if isinstance(annotation, dict) else None
            if not isinstance(caption, str) or "image_id" not in annotation:
                raise CaptionFileError(f"{path}: annotations[{index}] needs image_id and a caption string, got {annotation!r}")
            captions[str(annotation["image_id"])].append(caption)
        return dict(captions)
    if not isinstance(raw, dict):
        raise CaptionFileError(f"{path}: expected {{image: [captions]}} or COCO captions, got {type(raw).__name__}")
    for image, texts in raw.items():
        if not isinstance(texts, list) or not all(isinstance(text, str) for text in texts):
            raise CaptionFileError(f"{path}: image {image!r}: expected a list of caption strings, got {texts!r}")
    return {str(image): list(texts) for image, texts in raw.items()}


@dataclass(frozen=True)
class CaptionPairs:
    """(candidate, reference) pairs: captions of one image by different people, and of different images."""

    same_image: list[tuple[str, str]]
    different_image: list[tuple[str, str]]


def caption_pairs(captions: dict[str, list[str]], rng: random.Random) -> CaptionPairs:
    """Every pair of captions within an image, and every pair across images (a seeded sample when too many).

    Args:
        captions: captions per image, each by a different person.
        rng: draws the different-image sample when there are more than ``MAX_DIFFERENT_IMAGE_PAIRS``.
    """
    images = sorted(captions)
    same = [pair for image in images for pair in itertools.combinations(captions[image], 2)]
    different = [
        (first, second)
        for image_a, image_b in itertools.combinations(images, 2)
        for first in captions[image_a]
        for second in captions[image_b]
    ]
    if len(different) > MAX_DIFFERENT_IMAGE_PAIRS:
        different = rng.sample(different, MAX_DIFFERENT_IMAGE_PAIRS)
    return CaptionPairs(same, different)


def roc_auc(positives: np.ndarray, negatives: np.ndarray) -> float:
    """The chance that a random positive scores above a random negative, ties counting half (Mann-Whitney)."""
    if len(positives) == 0 or len(negatives) == 0:
        raise ValueError("ROC AUC needs at least one positive and one negative score")
    above = (positives[:, None] > negatives[None, :]).sum()
    ties = (positives[:, None] == negatives[None, :]).sum()
    return float((above + 0.5 * ties) / (len(positives) * len(negatives)))


def error_rates(positives: np.ndarray, negatives: np.ndarray, threshold: float) -> tuple[float, float]:
    """``(false_accept, false_reject)`` at ``threshold``: a score passes when it is at least the threshold."""
    return float((negatives >= threshold).mean()), float((positives < threshold).mean())


def choose_threshold(positives: np.ndarray, negatives: np.ndarray) -> float:
    """The threshold with the fewest false accepts plus false rejects, in the widest gap that has them.

    Candidates are the midpoints between consecutive distinct scores; each is then written with
    as few decimals (2, 3 or 4) as keep its error rates, so that the recipe reads ``0.37``.
    """
    values = np.unique(np.concatenate([positives, negatives]))
    gaps = list(itertools.pairwise(values)) or [(values[0], values[0])]

    def total_error(threshold: float) -> float:
        return sum(error_rates(positives, negatives, threshold))

    low, high = min(gaps, key=lambda gap: (round(total_error((gap[0] + gap[1]) / 2), 12), -(gap[1] - gap[0])))
    middle = float((low + high) / 2)
    for decimals in (2, 3, 4):
        rounded = round(middle, decimals)
        if error_rates(positives, negatives, rounded) == error_rates(positives, negatives, middle):
            return rounded
    return middle


@dataclass(frozen=True)
class CalibrationResult:
    """The chosen threshold, how well the encoder separates the two kinds of pairs, and the scores' spread."""

    threshold: float
    roc_auc: float
    false_accept: float
    false_reject: float
    same_image_f1: np.ndarray
    different_image_f1: np.ndarray

    def encoder_entry(self, encoder: TextEncoderConfig, data: str) -> TextEncoderConfig:
        """``encoder`` with this threshold (gate and per sample) and the figures it was calibrated with."""
        return encoder.model_copy(
            update={
                "bertscore_f1": EncoderThresholds(dataset=self.threshold, per_sample=self.threshold),
                "calibration": Calibration(
                    data=data,
                    same_image_pairs=len(self.same_image_f1),
                    different_image_pairs=len(self.different_image_f1),
                    roc_auc=round(self.roc_auc, 4),
                    false_accept=round(self.false_accept, 4),
                    false_reject=round(self.false_reject, 4),
                ),
            }
        )


def calibrate(pairs: CaptionPairs, score: PairScorer) -> CalibrationResult:
    """Score both kinds of pairs and choose the threshold that separates them best.

    Args:
        pairs: same-image and different-image caption pairs.
        score: BERTScore of (candidates, references) with the encoder being calibrated.
    """
    if not pairs.same_image or not pairs.different_image:
        raise ValueError("calibration needs an image with two captions and two images with captions")
    every = [*pairs.same_image, *pairs.different_image]
    f1 = np.array([f1 for _, _, f1 in score([first for first, _ in every], [second for _, second in every])])
    same, different = f1[: len(pairs.same_image)], f1[len(pairs.same_image) :]
    threshold = choose_threshold(same, different)
    false_accept, false_reject = error_rates(same, different, threshold)
    return CalibrationResult(threshold, roc_auc(same, different), false_accept, false_reject, same, different)


def calibrate_file(path: Path, encoder: TextEncoderConfig, seed: int = 0, batch_size: int = 64) -> str:
    """Calibrate ``encoder`` on the caption file at ``path``: the recipe entry as YAML, the spread as comments.

    What ``vlforge calibrate`` prints; paste the entry under ``quality.text_encoders``.
    """
    import yaml

    from vlforge.quality.metrics.bertscore import EncoderScorers

    captions = load_captions(path)
    pairs = caption_pairs(captions, random.Random(seed))
    scorers = EncoderScorers(batch_size)
    result = calibrate(pairs, lambda candidates, references: scorers.score(encoder, candidates, references))
    data = f"{path.as_posix()}: {len(captions)} images, {sum(map(len, captions.values()))} captions"
    entry = result.encoder_entry(encoder, data).model_dump(mode="json")
    quantiles = (0, 5, 50, 95, 100)

    def spread(values: np.ndarray) -> str:
        return ", ".join(f"p{q} {value:.3f}" for q, value in zip(quantiles, np.percentile(values, quantiles), strict=True))

    return (
        f"# BERTScore F1 with {encoder.name} (layer {encoder.num_layers})\n"
        f"# same image, different people ({len(result.same_image_f1)} pairs): {spread(result.same_image_f1)}\n"
        f"# different images ({len(result.different_image_f1)} pairs): {spread(result.different_image_f1)}\n"
        f"# threshold {result.threshold}: ROC AUC {result.roc_auc:.4f}, false accepts {result.false_accept:.2%}, "
        f"false rejects {result.false_reject:.2%}\n"
        + yaml.safe_dump({"text_encoders": [entry]}, sort_keys=False, allow_unicode=True)
    )
