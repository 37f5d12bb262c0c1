"""The loop closes here: flagged ops become a recipe suggestion, a unified diff a data engineer reviews and applies.

Nothing here edits a recipe. For each flagged op the suggestion halves its ``probability`` in the list
that made the copies (``augment.ops``, or ``synth.documents.degrade.ops`` for degraded pages): half as
many damaged copies, the op kept. Halving is the smallest step that is plainly a step; a copy's own drop
does not depend on the probability, so no figure would "fix" it exactly, and the next release's
evaluation says whether it was enough. A recipe that leaves the list to the defaults gets the release's
full list written out (a list in YAML replaces the default, it does not merge with it).

The YAML is edited with ruamel.yaml's round trip, so comments, order and flow style of untouched lines stay.
"""

from __future__ import annotations

import difflib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.util import load_yaml_guess_indent

from vlforge.evaluate.flags import Flag


@dataclass(frozen=True)
class Change:
    """One suggested change: ``op`` in ``section`` from ``old`` to ``new`` probability, and why."""

    section: str
    op: str
    old: float
    new: float
    reason: str

    def describe(self, phase: str | None) -> str:
        """``random_erasing 0.6 -> 0.3 in phase main: copies lose 0.120 of recall@5 against their parents (...)``."""
        where = f" in phase {phase}" if phase and self.section == "augment.ops" else f" in {self.section}"
        return f"{self.op} {self.old:g} -> {self.new:g}{where}: {self.reason}"


@dataclass(frozen=True)
class Suggestion:
    changes: list[Change]
    diff: str

    def text(self, phase: str | None) -> str:
        """The reasons as ``#`` lines, then the diff (``patch`` skips the leading lines)."""
        if not self.changes:
            return ""
        return "".join(f"# {change.describe(phase)}\n" for change in self.changes) + self.diff


def suggest(recipe_text: str, recipe_name: str, flags: Sequence[Flag], frozen: dict[str, Any]) -> Suggestion:
    """The recipe change the flags ask for, as a unified diff of ``recipe_text``.

    Args:
        recipe_text: the recipe YAML to change (the file a data engineer edits).
        recipe_name: its path (or name), the diff's header on both sides: ``patch -p0`` applies it.
        flags: the evaluation's flags; the worst per op decides its reason, flags without a section are skipped.
        frozen: the release's resolved recipe (``RELEASE.json``'s ``recipe``), whose lists fill in defaults.

    Returns:
        The changes and the diff (empty when nothing is flagged).
    """
    worst: dict[tuple[str, str], Flag] = {}
    for flag in flags:
        if flag.section is not None and ((flag.section, flag.op) not in worst or flag.drop > worst[(flag.section, flag.op)].drop):
            worst[(flag.section, flag.op)] = flag
    if not worst:
        return Suggestion([], "")
    _, indent, block_indent = load_yaml_guess_indent(recipe_text)
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold a long line the engineer wrote on one
    yaml.indent(mapping=block_indent or 2, sequence=indent or 4, offset=block_indent or 2)
    document = yaml.load(recipe_text) or CommentedMap()
    changes = []
    for (section, op), flag in sorted(worst.items()):
        entries = _ops_list(document, section, frozen)
        entry = next((item for item in entries if isinstance(item, dict) and op in item), None)
        if entry is None:
            continue
        if entry[op] is None:
            entry[op] = CommentedMap()
        old = float(entry[op].get("probability", 1.0))
        new = round(old / 2, 3)
        entry[op]["probability"] = new
        changes.append(Change(section, op, old, new, f"copies lose {flag.drop:.3f} of {flag.metric} against their parents "
                                                     f"({flag.parents:.3f} -> {flag.copies:.3f}, tolerance {flag.tolerance:g})"))
    buffer = io.StringIO()
    yaml.dump(document, buffer)
    diff = difflib.unified_diff(
        recipe_text.splitlines(keepends=True), buffer.getvalue().splitlines(keepends=True), recipe_name, recipe_name,
        n=6,  # enough context to show the op's name above its parameters
    )
    return Suggestion(changes, "".join(diff))


def recipe_yaml(recipe: dict[str, Any]) -> str:
    """A resolved recipe (``RELEASE.json``'s ``recipe``) as YAML in the house style, for a diff when its file is unknown."""
    yaml = YAML()
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    buffer = io.StringIO()
    yaml.dump(recipe, buffer)
    return buffer.getvalue()


def _ops_list(document: CommentedMap, section: str, frozen: dict[str, Any]) -> CommentedSeq:
    """The list at dotted ``section`` in the YAML, created from the frozen recipe's when the YAML leaves it out."""
    node: Any = document
    frozen_node: Any = frozen
    *parents, last = section.split(".")
    for key in parents:
        if node.get(key) is None:
            node[key] = CommentedMap()
        node, frozen_node = node[key], (frozen_node or {}).get(key)
    if node.get(last) is None:
        entries = CommentedSeq()
        for entry in (frozen_node or {}).get(last, []):
            for name, params in entry.items():
                inner = CommentedMap(params or {})
                inner.fa.set_flow_style()  # one line per op, as the default recipe writes them
                entries.append(CommentedMap({name: inner}))
        node[last] = entries
    return node[last]
