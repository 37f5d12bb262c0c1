"""The dashboard as a FastAPI app: server-rendered pages over the release catalog, read-only.

``create_app`` takes the dependencies that guard every route: the Airflow plugin
(``plugins/vlforge_dashboard.py``) passes Airflow's ``requires_authenticated()``,
so the app itself knows nothing of Airflow. Links are built from the prefix the
app is mounted under (``root_path``), so the pages work at ``/vlforge`` inside
Airflow as well as at ``/`` in a test client.
"""

from __future__ import annotations

import logging
import mimetypes
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, Response

from vlforge.catalog import Catalog, open_catalog
from vlforge.dashboard import listing
from vlforge.views import pages
from vlforge.views.charts import plotly_js, trend_div
from vlforge.views.release_folder import FolderDamage, ReleaseFolder
from vlforge.views.rendering import render
from vlforge.views.thumbnails import thumbnail

log = logging.getLogger(__name__)
DAG_ID = "vlforge_release"


class DashboardLinks:
    """URLs of the dashboard's pages under ``base`` (the mount prefix); Airflow's own pages under ``airflow_root``."""

    def __init__(self, base: str, airflow_root: str = "") -> None:
        self.base = base.rstrip("/")
        self.airflow_root = airflow_root.rstrip("/")

    def _url(self, path: str, query: dict[str, Any]) -> str:
        present = {key: value for key, value in query.items() if value not in (None, "")}
        return f"{self.base}{path}" + (f"?{urlencode(present)}" if present else "")

    def _release(self, dataset: str, version: str) -> str:
        return f"/releases/{quote(dataset)}/{quote(version)}"

    def home(self, **query: Any) -> str:
        return self._url("/", query)

    def trends(self, dataset: str) -> str:
        return self._url(f"/trends/{quote(dataset)}", {})

    def release(self, dataset: str, version: str, **query: Any) -> str:
        return self._url(self._release(dataset, version), query)

    def gallery(self, dataset: str, version: str, **query: Any) -> str:
        return self._url(self._release(dataset, version) + "/gallery", query)

    def diff(self, dataset: str, version: str, **query: Any) -> str:
        return self._url(self._release(dataset, version) + "/diff", query)

    def review(self, dataset: str, version: str, **query: Any) -> str:
        return self._url(self._release(dataset, version) + "/review", query)

    def thumbnail(self, dataset: str, version: str, sample_id: str) -> str:
        return self._url(self._release(dataset, version) + f"/thumbnails/{quote(sample_id)}.jpg", {})

    def folder(self, dataset: str, version: str) -> str:
        return self._url(self._release(dataset, version) + "/files/", {})

    def file(self, dataset: str, version: str, relative: str) -> str:
        return self._url(self._release(dataset, version) + f"/files/{quote(relative)}", {})

    def plotly_js(self) -> str:
        return self._url("/static/plotly.min.js", {})

    def dag_run(self, dag_run: dict[str, Any] | None) -> str | None:
        """The run's page in Airflow's UI (opened in the whole window, not the plugin's frame)."""
        if not dag_run or not dag_run.get("run_id"):
            return None
        return f"{self.airflow_root}/dags/{quote(str(dag_run.get('dag_id') or DAG_ID))}/runs/{quote(str(dag_run['run_id']), safe='')}"


def create_app(
    dependencies: Sequence[Any],
    catalog_url: str | None = None,
    airflow_root: str = "",
) -> FastAPI:
    """The dashboard app.

    Args:
        dependencies: FastAPI dependencies run before every route (``Depends(...)``): authentication.
        catalog_url: the release catalog (``vlforge.catalog.catalog_url``'s default when ``None``).
        airflow_root: the path of Airflow's UI, for links to DAG runs.

    Returns:
        The app; mount it under a prefix of its own.
    """
    app = FastAPI(title="vlforge dashboard", dependencies=list(dependencies), docs_url=None, redoc_url=None, openapi_url=None)
    opened: list[Catalog] = []

    def catalog() -> Catalog:
        if not opened:
            opened.append(open_catalog(catalog_url))
        return opened[0]

    def links(request: Request) -> DashboardLinks:
        return DashboardLinks(request.scope.get("root_path", ""), airflow_root)

    def page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        nav = catalog().datasets()
        return HTMLResponse(render(name, links=links(request), nav_datasets=nav, **context), status_code=status_code)

    def release_row(dataset: str, version: str) -> dict[str, Any]:
        return listing.find_release(catalog(), dataset, version)

    @app.exception_handler(KeyError)
    def not_found(request: Request, error: KeyError) -> HTMLResponse:
        return page(request, "error.html", status_code=404, message=error.args[0] if error.args else str(error))

    @app.get("/", response_class=HTMLResponse)
    def releases(request: Request, p: int = 1, dataset: str | None = None) -> HTMLResponse:
        content = listing.releases_page(catalog(), p, dataset)
        return page(request, "releases.html", page_url=lambda n: links(request).home(dataset=dataset, p=n), **content)

    @app.get("/trends/{dataset}", response_class=HTMLResponse)
    def trends(request: Request, dataset: str) -> HTMLResponse:
        if dataset not in catalog().datasets():
            raise KeyError(f"no releases of dataset {dataset!r} in the catalog")
        series = listing.trends_of(catalog(), dataset)
        charts = [{"key": trend.key, "div": trend_div(series, trend)} for trend in series.trends]
        return page(request, "trends.html", trends=series, charts=charts)

    @app.get("/releases/{dataset}/{version}", response_class=HTMLResponse)
    def release(request: Request, dataset: str, version: str, p: int = 1) -> HTMLResponse:
        detail = pages.release_detail(release_row(dataset, version), p)
        return page(request, "release.html", detail=detail, evaluations=catalog().list_evaluations(dataset, version),
                    drops_url=lambda n: links(request).release(dataset, version, p=n))

    @app.get("/releases/{dataset}/{version}/gallery", response_class=HTMLResponse)
    def gallery(
        request: Request,
        dataset: str,
        version: str,
        p: int = 1,
        task_type: str = "",
        split: str = "",
        source: str = "",
        kind: str = "",
        failing: str = "",
        lowest: str = "",
        sample: str = "",
        per_page: int = Query(pages.GALLERY_PAGE, ge=1, le=200),
    ) -> HTMLResponse:
        row = release_row(dataset, version)
        filters = pages.GalleryFilters(task_type, split, source, kind, failing, lowest, sample)
        try:
            content, message = pages.gallery(ReleaseFolder(row["path"]), filters, p, per_page), ""
        except FolderDamage as damage:
            content, message = None, str(damage)
        size = per_page if per_page != pages.GALLERY_PAGE else None
        url = lambda n: links(request).gallery(dataset, version, **filters.query(), per_page=size, p=n)  # noqa: E731
        return page(request, "gallery.html", row=row, gallery=content, message=message, page_url=url)

    @app.get("/releases/{dataset}/{version}/diff", response_class=HTMLResponse)
    def diff(request: Request, dataset: str, version: str, against: str = "", show: str = "changed", p: int = 1) -> HTMLResponse:
        new = release_row(dataset, version)
        parent = against or new["parent_version"]
        old = release_row(dataset, parent) if parent else None
        try:
            content, message = pages.diff(new, old, show, p), ""
        except FolderDamage as damage:
            content, message = {"new": new, "old": old}, str(damage)
        url = lambda n: links(request).diff(dataset, version, against=parent, show=show, p=n)  # noqa: E731
        return page(request, "diff.html", diff=content, message=message, page_url=url)

    @app.get("/releases/{dataset}/{version}/review", response_class=HTMLResponse)
    def review(request: Request, dataset: str, version: str, p: int = 1) -> HTMLResponse:
        row = release_row(dataset, version)
        try:
            content, message = pages.review_queue(ReleaseFolder(row["path"]), p), ""
        except FolderDamage as damage:
            content, message = None, str(damage)
        url = lambda n: links(request).review(dataset, version, p=n)  # noqa: E731
        return page(request, "review.html", row=row, review=content, message=message, page_url=url)

    @app.get("/releases/{dataset}/{version}/thumbnails/{sample_id}.jpg")
    def thumbnail_image(dataset: str, version: str, sample_id: str) -> Response:
        folder = ReleaseFolder(release_row(dataset, version)["path"])
        try:
            index = folder.index()
            position = index.positions.get(sample_id)
            if position is None:
                raise KeyError(f"no sample {sample_id} in {dataset}/{version}")
            picture = thumbnail(folder, index.samples([position])[0])
        except FolderDamage as damage:
            return Response(str(damage), status_code=404, media_type="text/plain")
        return Response(picture, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"})

    @app.get("/releases/{dataset}/{version}/files/", response_class=HTMLResponse)
    def folder_listing(request: Request, dataset: str, version: str) -> HTMLResponse:
        row = release_row(dataset, version)
        folder = ReleaseFolder(row["path"])
        try:
            root = folder.safe_file("RELEASE.json").parent
            entries, message = sorted((path.name, path.is_file()) for path in root.iterdir() if not path.name.startswith(".")), ""
        except FolderDamage as damage:
            entries, message = [], str(damage)
        return page(request, "folder.html", row=row, entries=entries, message=message)

    @app.get("/releases/{dataset}/{version}/files/{relative:path}")
    def release_file(dataset: str, version: str, relative: str) -> Response:
        try:
            path = ReleaseFolder(release_row(dataset, version)["path"]).safe_file(relative)
        except FolderDamage as damage:
            return Response(str(damage), status_code=404, media_type="text/plain")
        media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if path.suffix in {".jsonl", ".json"}:
            media_type = "application/json" if path.suffix == ".json" else "text/plain; charset=utf-8"
        return Response(path.read_bytes(), media_type=media_type)

    @app.get("/static/plotly.min.js")
    def plotly() -> Response:
        return Response(plotly_js(), media_type="text/javascript", headers={"Cache-Control": "private, max-age=86400"})

    return app
