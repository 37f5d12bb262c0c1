"""The quality dashboard: a FastAPI app over the release catalog, mounted in Airflow by ``plugins/vlforge_dashboard.py``.

``listing`` queries the catalog for the releases a page shows; ``app`` serves the
pages that ``vlforge.views`` computes and renders. The app only reads the catalog
and the releases, except the thumbnail cache in a release folder.
"""
