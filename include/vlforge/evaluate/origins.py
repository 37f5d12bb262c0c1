"""Where an evaluated sample comes from, read from its lineage: real, augmented (a copy of a parent) or synthetic.

- An augmented copy names its parent in a ``parent`` lineage entry (``augment.lineage.parent_id``) and
  lists the image ops applied after it (``augment.lineage.applied_ops``).
- A synthetic page's first lineage entry is its generator (``documents``, ``gui``...); a degraded page
  adds augment ops after it and shares its item id with the clean page it was made from, its parent.

Both kinds of copy are compared with their own parent, so a drop is attributable to what made the copy.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from vlforge.augment.lineage import applied_ops, parent_id
from vlforge.augment.ops import REGISTRY
from vlforge.records import Sample

ORIGINS = ("real", "augmented", "synthetic")


@dataclass(frozen=True)
class Origin:
    """One sample's origin: ``kind`` (``ORIGINS``), the parent it was made from, the ops that made it, its generator."""

    kind: str
    parent: str | None
    ops: tuple[str, ...]
    generator: str | None

    @property
    def level(self) -> int:
        """Degradation level: how many image ops made the copy (0 for an original)."""
        return len(self.ops)


def origins(samples: Iterable[Sample]) -> dict[str, Origin]:
    """Every sample's origin by sample id (a synthetic page's parent is the clean page of its item, when present)."""
    samples = list(samples)
    clean_pages = {
        sample.item_id: sample.sample_id
        for sample in samples
        if sample.synthetic and sample.item_id and not _synthetic_ops(sample)
    }
    found = {}
    for sample in samples:
        if sample.synthetic:
            ops = _synthetic_ops(sample)
            parent = clean_pages.get(sample.item_id) if ops else None
            generator = sample.lineage[0].op if sample.lineage else None
            found[sample.sample_id] = Origin("synthetic", parent if parent != sample.sample_id else None, ops, generator)
        elif parent_id(sample) is not None:
            found[sample.sample_id] = Origin("augmented", parent_id(sample), tuple(entry.op for entry in applied_ops(sample)), None)
        else:
            found[sample.sample_id] = Origin("real", None, (), None)
    return found


def _synthetic_ops(sample: Sample) -> tuple[str, ...]:
    """The augment ops after a synthetic sample's generator entry (a degraded page's degradations)."""
    return tuple(entry.op for entry in sample.lineage[1:] if entry.op in REGISTRY)
