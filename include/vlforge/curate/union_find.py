"""Disjoint sets over string keys, used to turn pairwise duplicate links into groups.

Deterministic: the groups come back in order of their smallest member under the
caller's order, members in that order too.
"""

from __future__ import annotations

from collections.abc import Iterable


class UnionFind:
    """Union by size with path halving over the keys given at construction."""

    def __init__(self, keys: Iterable[str]) -> None:
        self._order: dict[str, int] = {}
        for key in keys:
            self._order.setdefault(key, len(self._order))
        self._parent = {key: key for key in self._order}
        self._size = dict.fromkeys(self._order, 1)

    def find(self, key: str) -> str:
        """The representative of ``key``'s set.

        Raises:
            KeyError: naming a key that was not given at construction.
        """
        if key not in self._parent:
            raise KeyError(f"unknown key {key!r} in union-find")
        while self._parent[key] != key:
            self._parent[key] = self._parent[self._parent[key]]
            key = self._parent[key]
        return key

    def union(self, first: str, second: str) -> None:
        root_a, root_b = self.find(first), self.find(second)
        if root_a == root_b:
            return
        if self._size[root_a] < self._size[root_b]:
            root_a, root_b = root_b, root_a
        self._parent[root_b] = root_a
        self._size[root_a] += self._size[root_b]

    def groups(self) -> list[list[str]]:
        """Every set with its members in construction order; sets ordered by their first member."""
        by_root: dict[str, list[str]] = {}
        for key in self._order:
            by_root.setdefault(self.find(key), []).append(key)
        return list(by_root.values())
