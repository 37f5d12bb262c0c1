"""The recipe's ``evaluate:`` section: what the ``vlforge_evaluate`` DAG measures on a release and what it tolerates.

Evaluation never changes a release's content, so this section is not part of ``Recipe.content_hash``: a
release evaluated with other tolerances is the same release.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from vlforge.evaluate.model.config import ModelBackendConfig


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# How far a copy's metric may fall below its parents' before its op (or generator) is flagged, in the
# metric's own units (recall and accuracy are shares: 0.05 is five points).
DEFAULT_TOLERANCE = {"recall@5": 0.05, "ocr_accuracy": 0.10, "ocr_word_f1": 0.10}


class EvaluateConfig(_Section):
    """Data-side evaluation of a release (``vlforge.evaluate``).

    Attributes:
        clip_model_path: a local transformers CLIP folder for image-text retrieval; ``None`` skips alignment.
        device: torch device of the CLIP model.
        recall_ks: the K of recall@K.
        tolerance: per metric (``recall@5``, ``ocr_accuracy``, ``ocr_word_f1``), how far an op's copies may
            fall below their own parents before the op is flagged; ``"*"`` for any other metric.
        release_tolerance: how far a metric may fall against the dataset's previous evaluated release
            before an alert goes out (``compare.compare_releases``'s lookup: full name, metric, ``"*"``).
        shard_size: samples per mapped evaluation task.
        batch_size: images per CLIP forward pass.
        examples: sample ids kept per result row and per flag.
        min_pairs: an op is judged only with at least this many copy-parent pairs.
        models: model backends by name, for model-side evaluation of the test split (the DAG's ``backends``
            Param names them); an OpenAI-compatible endpoint may instead be an Airflow connection of that
            name, which keeps its key out of the recipe.
    """

    clip_model_path: str | None = None
    device: str = "cpu"
    recall_ks: tuple[Annotated[int, Field(ge=1)], ...] = (1, 5, 10)
    tolerance: dict[str, Annotated[float, Field(ge=0)]] = Field(default_factory=lambda: dict(DEFAULT_TOLERANCE))
    release_tolerance: dict[str, Annotated[float, Field(ge=0)]] = Field(default_factory=lambda: {"*": 0.05})
    shard_size: int = Field(64, ge=1)
    batch_size: int = Field(32, ge=1)
    examples: int = Field(3, ge=0)
    min_pairs: int = Field(1, ge=1)
    models: dict[str, ModelBackendConfig] = Field(default_factory=dict)

    @field_validator("recall_ks")
    @classmethod
    def _distinct_ks(cls, ks: tuple[int, ...]) -> tuple[int, ...]:
        if not ks or len(set(ks)) != len(ks):
            raise ValueError(f"recall_ks must list distinct K values, got {list(ks)}")
        return tuple(sorted(ks))

    def tolerance_for(self, metric: str) -> float:
        """The flag tolerance of ``metric``: its own entry, else ``"*"``, else 0."""
        return float(self.tolerance.get(metric, self.tolerance.get("*", 0.0)))
