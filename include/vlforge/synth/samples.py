"""Canonical samples from synthetic renders: stored images, ids, sources and lineage entries."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from vlforge.records import ImageRef, LineageOp, Source, make_sample_id
from vlforge.store import ImageStore, sha256_bytes
from vlforge.synth.browser import encode_png


def png_ref(pixels: np.ndarray, store: ImageStore | None) -> ImageRef:
    """The reference of ``pixels`` as PNG, put in ``store`` unless it is None."""
    height, width = pixels.shape[:2]
    data = encode_png(pixels)
    digest = store.put(data, "png") if store is not None else sha256_bytes(data)
    return ImageRef(sha256=digest, width=int(width), height=int(height), format="png")


def store_png(store: ImageStore, pixels: np.ndarray) -> ImageRef:
    """Put ``pixels`` in the store as PNG and return its reference."""
    return png_ref(pixels, store)


def synthetic_source(generator: str, template: str, seed: int, record: str) -> Source:
    """Where a synthetic sample came from: ``synth/<generator>/<template>`` and ``<seed>/<record>``."""
    return Source(file=f"synth/{generator}/{template}", record_id=f"{seed}/{record}")


def synthetic_id(source: Source) -> str:
    return make_sample_id(source, 1)


def lineage_entry(op: str, params: dict[str, Any], seed: int | None = None) -> LineageOp:
    """A lineage entry whose params replay the generator (canonical JSON: sorted keys, UTF-8 kept)."""
    return LineageOp(op=op, params_json=json.dumps(params, sort_keys=True, ensure_ascii=False), seed=seed)
