"""The ``vlforge`` command line: small helpers around releases for people and for ``make``.

    python -m vlforge.cli prepare-demo DIR   copy the demo images and export into DIR, print the export path
    python -m vlforge.cli latest DATASET     print the newest release's folder and report
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vlforge.demo import prepare_demo
from vlforge.layout import releases_dir, vlforge_home
from vlforge.release import latest_version


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vlforge", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("prepare-demo", help="copy the demo dataset into a folder")
    demo.add_argument("folder", type=Path)
    latest = commands.add_parser("latest", help="show the newest release of a dataset")
    latest.add_argument("dataset")
    arguments = parser.parse_args(argv)
    if arguments.command == "prepare-demo":
        print(prepare_demo(arguments.folder))
        return 0
    version = latest_version(vlforge_home(), arguments.dataset)
    if version is None:
        print(f"no release of {arguments.dataset!r} under {vlforge_home()}", file=sys.stderr)
        return 1
    folder = releases_dir(vlforge_home(), arguments.dataset) / version
    print(f"release: {folder}")
    print(f"report:  {folder / 'report.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
