"""What the dashboard and the static report show of releases, from release rows and release folders.

``release_folder`` reads one release folder and turns damage into messages;
``thumbnails`` draws and caches each sample's picture in the release folder;
``pages`` computes each page's content; ``charts`` draws the trends with Plotly;
``rendering`` holds the Jinja2 templates both render. No catalog query lives here
(``vlforge.dashboard`` makes those), so the report, written while a release is
published, renders the same pages as the dashboard.
"""
