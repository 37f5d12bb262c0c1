"""vlforge.augment.lineage.mirrored: which applied ops mirrored the image, read from the class where the class decides."""

from __future__ import annotations

import json
from typing import Any, ClassVar

import pytest

from vlforge.augment.lineage import mirrored
from vlforge.augment.ops import REGISTRY, Op
from vlforge.records import LineageOp


def test_an_op_that_mirrors_by_its_class_is_answered_without_reading_its_parameters() -> None:
    # Parameters that are not even JSON: the class alone answers.
    assert mirrored(LineageOp(op="horizontal_flip", params_json="not json")) is True
    assert mirrored(LineageOp(op="rotate", params_json="not json")) is False


class _MirrorsWhenDrawn(Op):
    """A test op whose mirroring depends on what it drew."""

    name: ClassVar[str] = "mirrors_when_drawn"

    def mirrors(self, params: dict[str, Any]) -> bool:
        return bool(params["mirror"])


@pytest.mark.parametrize("drawn", [True, False])
def test_an_op_whose_answer_depends_on_its_parameters_is_built_from_them(monkeypatch: pytest.MonkeyPatch, drawn: bool) -> None:
    monkeypatch.setitem(REGISTRY, _MirrorsWhenDrawn.name, _MirrorsWhenDrawn)
    entry = LineageOp(op=_MirrorsWhenDrawn.name, params_json=json.dumps({"mirror": drawn, "recipe": {"min_visibility": 0.5}}))
    assert mirrored(entry) is drawn


def test_an_unknown_op_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown augment op 'teleport'; known ops: .*horizontal_flip"):
        mirrored(LineageOp(op="teleport"))
