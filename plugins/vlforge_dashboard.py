"""vlforge's quality dashboard inside Airflow: the app mounted on the API server at ``/vlforge``, and a "vlforge" nav entry.

Airflow does not authenticate plugin apps: every route of the dashboard depends on
Airflow's ``requires_authenticated()``, so the UI's session cookie (``_token``) or a
bearer token lets a user in and an anonymous request gets 401 (403 for a bad token).
The pages themselves are ``vlforge.dashboard`` (no Airflow in there).
"""

from __future__ import annotations

from urllib.parse import urlparse

from fastapi import Depends

from airflow.api_fastapi.core_api.security import requires_authenticated
from airflow.configuration import conf
from airflow.plugins_manager import AirflowPlugin
from vlforge.dashboard.app import create_app

URL_PREFIX = "/vlforge"


def dashboard_app(catalog_url: str | None = None):  # noqa: ANN201 - a FastAPI app
    """The dashboard on ``catalog_url`` (``$VLFORGE_CATALOG_URL`` or ``$VLFORGE_HOME/catalog.sqlite`` by default),
    guarded by Airflow's authentication, its DAG-run links under Airflow's base URL."""
    base_path = urlparse(conf.get("api", "base_url", fallback="") or "").path
    return create_app([Depends(requires_authenticated())], catalog_url=catalog_url, airflow_root=base_path)


class VlforgeDashboardPlugin(AirflowPlugin):
    name = "vlforge_dashboard"
    fastapi_apps = [{"app": dashboard_app(), "url_prefix": URL_PREFIX, "name": "vlforge dashboard"}]
    external_views = [
        {
            "name": "vlforge",
            # Relative: Airflow resolves it against its own base URL; url_route shows it inside the UI.
            "href": URL_PREFIX.lstrip("/") + "/",
            "url_route": "vlforge",
            "destination": "nav",
        }
    ]
