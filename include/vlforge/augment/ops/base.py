"""The op contract and the registry: a validated params model, ``sample(rng)`` and a deterministic ``apply``.

``sample`` is the only place randomness happens, from the ``numpy.random.Generator`` passed in; it
returns plain JSON-able values. ``apply`` builds albumentations transforms with p=1 and zero-width
ranges from those values (``A.Rotate(limit=(a, a))``) plus an ``aug_seed`` for what albumentations
still draws inside (noise pixels, hole positions, perspective corners), so the same params give the
same bytes.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from vlforge.augment.functional import run_albumentations
from vlforge.augment.targets import Targets

REGISTRY: dict[str, type[Op]] = {}


def register(cls: type[Op]) -> type[Op]:
    """Class decorator: add an op to ``REGISTRY`` under its ``name`` (the same word as its file)."""
    if cls.name in REGISTRY:
        raise ValueError(f"augment op {cls.name!r} registered twice ({REGISTRY[cls.name].__module__}, {cls.__module__})")
    REGISTRY[cls.name] = cls
    return cls


def op_class(name: str) -> type[Op]:
    """The registered op class ``name``; an unknown name lists the known ones."""
    if name not in REGISTRY:
        raise ValueError(f"unknown augment op {name!r}; known ops: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def build_op(name: str, params: dict[str, Any] | None = None) -> Op:
    """The registered op ``name`` with ``params``; an unknown name lists the known ones."""
    return op_class(name)(**(params or {}))


class OpParams(BaseModel):
    """Recipe parameters shared by every op.

    ``min_visibility``: the share of a box's area that must stay visible after the op, or the box is
    dropped (and the drop is written to the lineage).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    min_visibility: float = Field(0.3, ge=0.0, le=1.0)


def check_range(low: float, high: float, name: str) -> None:
    if low > high:
        raise ValueError(f"{name} = ({low}, {high}): low must not exceed high")


class RangeParams(OpParams):
    """Params whose fields ending in ``_range`` are ``(low, high)`` with ``low <= high``."""

    @model_validator(mode="after")
    def _ranges_ordered(self) -> RangeParams:
        for name, value in self:
            if name.endswith("_range"):
                check_range(value[0], value[1], name)
        return self


class Op:
    """One augmentation: subclasses set ``name``, ``Params`` and implement ``sample`` and ``transforms``."""

    name: ClassVar[str] = ""
    Params: ClassVar[type[OpParams]] = OpParams
    # True when the op mirrors the image left to right, so spatial words in the text must swap.
    mirrors_horizontally: ClassVar[bool] = False

    def __init__(self, **params: Any) -> None:
        try:
            self.params = self.Params(**params)
        except ValidationError as error:
            raise ValueError(f"augment op {self.name!r}: invalid params {params}: {error}") from error

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        """Draw the concrete parameters of one application (JSON-able values only)."""
        return {"aug_seed": draw_seed(rng)}

    def transforms(self, params: dict[str, Any], width: int, height: int) -> list[Any]:
        raise NotImplementedError

    def mirrors(self, params: dict[str, Any]) -> bool:
        """Whether this application mirrors left and right (text must swap spatial words)."""
        return self.mirrors_horizontally

    def apply(self, image: np.ndarray, targets: Targets, params: dict[str, Any]) -> tuple[np.ndarray, Targets]:
        """Apply with the drawn ``params``; deterministic, does not modify ``image`` or ``targets``."""
        height, width = image.shape[:2]
        if (width, height) != (targets.width, targets.height):
            raise ValueError(
                f"augment op {self.name!r}: image is {width}x{height} but targets are for "
                f"{targets.width}x{targets.height}"
            )
        return run_albumentations(
            image,
            targets,
            self.transforms(params, width, height),
            seed=int(params.get("aug_seed", 0)),
            min_visibility=self.params.min_visibility,
            op_name=self.name,
        )


def draw_seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**31 - 1))


def uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(bounds[0], bounds[1])) if bounds[1] > bounds[0] else float(bounds[0])


def odd_int(rng: np.random.Generator, bounds: tuple[int, int]) -> int:
    """An odd integer in ``[low, high]`` (both odd)."""
    choices = [k for k in range(bounds[0], bounds[1] + 1) if k % 2 == 1]
    return int(choices[int(rng.integers(0, len(choices)))])
