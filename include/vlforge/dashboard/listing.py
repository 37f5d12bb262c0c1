"""The dashboard's catalog queries: which releases a page shows (``vlforge.views.pages`` says what it shows of each)."""

from __future__ import annotations

from typing import Any

from vlforge.catalog import Catalog
from vlforge.views.pages import LIST_PAGE, Trends, pager, promoted_by, status_label, trends_from
from vlforge.views.release_folder import FolderDamage, ReleaseFolder


def releases_page(catalog: Catalog, page: int = 1, dataset: str | None = None) -> dict[str, Any]:
    """Every dataset and version: status, counts, parent, who promoted, links, damage."""
    paging = pager(page, LIST_PAGE, catalog.count_releases(dataset))
    items = []
    for row in catalog.list_releases(dataset, offset=paging.start, limit=paging.per_page):
        folder = ReleaseFolder(row["path"])
        message, dag_run = "", None
        try:
            dag_run = (folder.release().get("source") or {}).get("dag_run")
        except FolderDamage as damage:
            message = str(damage)
        items.append(
            {
                "row": row,
                "status": status_label(row),
                "failed_gates": [str(gate.get("name")) for gate in row["gates"] or [] if not gate.get("passed")],
                "promoted_by": promoted_by(row),
                "dag_run": dag_run,
                "message": message,
            }
        )
    return {"items": items, "pager": paging, "datasets": catalog.datasets(), "dataset": dataset}


def trends_of(catalog: Catalog, dataset: str) -> Trends:
    """Each metric across the dataset's recorded versions, oldest first, with thresholds, held releases and regressions."""
    return trends_from(dataset, catalog.list_releases(dataset))


def find_release(catalog: Catalog, dataset: str, version: str) -> dict[str, Any]:
    """The catalog row; ``KeyError`` naming the versions there are."""
    row = catalog.get_release(dataset, version)
    if row is None:
        known = ", ".join(item["version"] for item in catalog.list_releases(dataset)) or "none"
        raise KeyError(f"{dataset}/{version} is not in the catalog (versions: {known})")
    return row
