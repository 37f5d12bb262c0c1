"""vlforge's quality dashboard inside Airflow: the app mounted on the API server at ``/vlforge``, and a "vlforge" nav entry.

Airflow does not authenticate plugin apps: every route of the dashboard depends on
Airflow's ``requires_authenticated()``, so the UI's session cookie (``_token``) or a
bearer token lets a user in and an anonymous request gets 401 (403 for a bad token).
The pages themselves are ``vlforge.dashboard`` (no Airflow in there).

Airflow imports every plugin module in every task process (for plugin macros), so this
module imports nothing heavy: the app is built on the API server's first request to it.
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/vlforge"


def dashboard_app(catalog_url: str | None = None):  # noqa: ANN201 - a FastAPI app
    """The dashboard on ``catalog_url`` (``$VLFORGE_CATALOG_URL`` or ``$VLFORGE_HOME/catalog.sqlite`` by default),
    guarded by Airflow's authentication, its DAG-run links under Airflow's base URL."""
    from urllib.parse import urlparse

    from fastapi import Depends

    from airflow.api_fastapi.core_api.security import requires_authenticated
    from airflow.configuration import conf
    from vlforge.dashboard.app import create_app

    base_path = urlparse(conf.get("api", "base_url", fallback="") or "").path
    return create_app([Depends(requires_authenticated())], catalog_url=catalog_url, airflow_root=base_path)


class LazyDashboard:
    """An ASGI app that builds ``dashboard_app()`` on its first request and hands every request to it."""

    def __init__(self) -> None:
        self.app: Any = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if self.app is None:
            self.app = dashboard_app()
        await self.app(scope, receive, send)


class VlforgeDashboardPlugin(AirflowPlugin):
    name = "vlforge_dashboard"
    fastapi_apps = [{"app": LazyDashboard(), "url_prefix": URL_PREFIX, "name": "vlforge dashboard"}]
    external_views = [
        {
            "name": "vlforge",
            # Relative: the UI resolves it against Airflow's base URL; url_route shows it inside the UI.
            "href": URL_PREFIX.lstrip("/") + "/",
            "url_route": "vlforge",
            "destination": "nav",
            "nav_top_level": True,
        }
    ]
