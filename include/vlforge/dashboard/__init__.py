"""The quality dashboard: pages over the release catalog and release folders, for people who decide what to train on.

``release_folder`` reads one release folder and turns damage into messages;
``thumbnails`` draws and caches each sample's picture in the release folder;
``pages`` builds each page's content; ``charts`` draws the trends with Plotly;
``app`` serves the pages as a FastAPI app that the Airflow plugin
(``plugins/vlforge_dashboard.py``) mounts behind Airflow's authentication; the
static ``report.html`` (``vlforge.report``) renders the same templates to files.
Everything here only reads the catalog and the releases, except the thumbnail cache.
"""
