"""GX's Data Docs views with their Jinja templates compiled once per machine instead of once per gate.

GX makes a new Jinja environment for every page view it renders with, so each gate process compiled
the same 54 templates again: 0.45 s of the curate gate's 1.7 s and 0.84 s of the augment gate's 4.5 s at
1,000 samples (cProfile). These views are GX's own, with Jinja's file bytecode cache set on that
environment. The cache lives in Jinja's default folder, a per-user folder under the temp directory that
Jinja checks is private. Jinja writes each entry atomically and keys it by the template's name and the
checksum of its source, so a changed template (a GX upgrade) is compiled again. The pages are the same.

``cached_views_site`` puts these views into a Data Docs site's configuration; ``vlforge.gates`` sets it in
each run folder's GX project.
"""

from __future__ import annotations

import copy
import functools
import logging
from typing import Any

from great_expectations.render.view import DefaultJinjaIndexPageView, DefaultJinjaPageView
from jinja2 import BytecodeCache, Environment, FileSystemBytecodeCache
from jinja2.bccache import Bucket

log = logging.getLogger(__name__)


class _BestEffortBytecodeCache(FileSystemBytecodeCache):
    """Jinja's file bytecode cache, where a template that cannot be written (a full disk) is only compiled again next time."""

    def dump_bytecode(self, bucket: Bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError as error:
            log.warning("Data Docs template %s not cached in %s: %s", bucket.key, self.directory, error)


@functools.cache
def bytecode_cache() -> BytecodeCache | None:
    """Jinja's file bytecode cache in its default folder; None (templates compiled as before) where that folder is unsafe."""
    try:
        return _BestEffortBytecodeCache()
    except (OSError, RuntimeError) as error:
        log.warning("Data Docs templates are compiled in every gate: no Jinja bytecode cache (%s)", error)
        return None


class _CachedTemplates:
    """Sets the bytecode cache on the Jinja environment that GX's view makes in its ``__init__``."""

    env: Environment

    def __init__(self, custom_styles_directory: str | None = None, custom_views_directory: str | None = None) -> None:
        super().__init__(custom_styles_directory, custom_views_directory)  # type: ignore[call-arg]
        self.env.bytecode_cache = bytecode_cache()


class CachedJinjaPageView(_CachedTemplates, DefaultJinjaPageView):
    """GX's page view (suite and validation pages), its templates compiled once per machine."""


class CachedJinjaIndexPageView(_CachedTemplates, DefaultJinjaIndexPageView):
    """GX's index page view, its templates compiled once per machine."""


def _view(cls: type) -> dict[str, str]:
    return {"module_name": cls.__module__, "class_name": cls.__name__}


def cached_views_site(site: dict[str, Any]) -> dict[str, Any]:
    """A copy of a ``SiteBuilder`` site configuration whose index and sections render with the cached views.

    Args:
        site: one entry of a GX project's ``data_docs_sites``.

    Returns:
        The same site, with ``view`` set on its ``site_index_builder`` and on each of GX's three page sections.
    """
    cached = copy.deepcopy(site)
    cached["site_index_builder"] = {**cached.get("site_index_builder", {}), "view": _view(CachedJinjaIndexPageView)}
    sections = cached.setdefault("site_section_builders", {})
    for name in ("expectations", "validations", "profiling"):
        sections[name] = {**sections.get(name, {}), "view": _view(CachedJinjaPageView)}
    return cached
