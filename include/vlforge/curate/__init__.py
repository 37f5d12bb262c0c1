"""The curate stage: dedup, filters, visual-token budgets and splits, as pure building blocks.

``curate`` runs them in order; each module can also be used on its own. Heavy
imports (imagehash, scipy) happen only when images are hashed, so recipes can import
``CurateConfig`` at DAG parse time.
"""

from vlforge.curate.config import CurateConfig, DedupConfig, FilterConfig, SplitConfig, TokenBudget
from vlforge.curate.pipeline import curate
from vlforge.curate.result import CurateResult, Drop, KeptSample

__all__ = [
    "CurateConfig",
    "CurateResult",
    "DedupConfig",
    "Drop",
    "FilterConfig",
    "KeptSample",
    "SplitConfig",
    "TokenBudget",
    "curate",
]
