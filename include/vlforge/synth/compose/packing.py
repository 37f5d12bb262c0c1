"""Packing: same-task samples grouped into sequences of at most a token budget, first-fit decreasing.

A sample is never split: one over the budget alone is left unpacked with the reason
``over_pack_budget``. Efficiency is the packed tokens over the packs' capacity.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Packable:
    sample_id: str
    task_type: str
    tokens: int


@dataclass
class Pack:
    task_type: str
    sample_ids: list[str] = field(default_factory=list)
    tokens: int = 0


@dataclass(frozen=True)
class Packing:
    packs: list[Pack]
    unpacked: dict[str, str]  # sample id -> reason
    max_tokens: int

    @property
    def efficiency(self) -> float:
        return sum(pack.tokens for pack in self.packs) / (len(self.packs) * self.max_tokens) if self.packs else 0.0

    def to_json(self) -> dict[str, object]:
        return {
            "max_tokens": self.max_tokens,
            "efficiency": round(self.efficiency, 6),
            "packs": [{"task_type": p.task_type, "tokens": p.tokens, "sample_ids": p.sample_ids} for p in self.packs],
            "unpacked": dict(sorted(self.unpacked.items())),
        }


def pack(items: list[Packable], max_tokens: int) -> Packing:
    """First-fit decreasing per task type: longest first (ties by id), each into the first pack it fits."""
    packs: list[Pack] = []
    unpacked: dict[str, str] = {}
    for task_type in sorted({item.task_type for item in items}):
        mine: list[Pack] = []
        for item in sorted((i for i in items if i.task_type == task_type), key=lambda i: (-i.tokens, i.sample_id)):
            if item.tokens > max_tokens:
                unpacked[item.sample_id] = "over_pack_budget"
                continue
            target = next((p for p in mine if p.tokens + item.tokens <= max_tokens), None)
            if target is None:
                target = Pack(task_type)
                mine.append(target)
            target.sample_ids.append(item.sample_id)
            target.tokens += item.tokens
        packs += mine
    return Packing(packs, unpacked, max_tokens)
