"""The ``vlforge`` command line: small helpers around releases for people and for ``make``.

    python -m vlforge.cli prepare-demo DIR               copy the demo images and export into DIR, print the export path
    python -m vlforge.cli latest DATASET                 print the newest release's folder and report
    python -m vlforge.cli releases list [--dataset D]    the release catalog as a table
    python -m vlforge.cli releases show D V              one release: counts, metrics, gates, promotions
    python -m vlforge.cli releases diff D A B            release B against release A: metrics, counts, regressions
    python -m vlforge.cli replay ID --from DIR           replay an augmented sample from its parent; OK when the bytes match
                                [--scene-model DIR]      (a composed one from its sources, a generated scene from its seed)
    python -m vlforge.cli calibrate CAPTIONS [--model-path DIR --num-layers N --name NAME --languages L ...]
                                                         calibrate an encoder's BERTScore threshold; print its recipe entry
    python -m vlforge.cli thumbnails DIR                 draw the dashboard's gallery thumbnails of a release folder once
    python -m vlforge.cli review push RELEASE            create or update the release's review project in Label Studio
    python -m vlforge.cli review pull RELEASE            export the adjudicated items where the next run reads them

Installed (``make`` installs vlforge into .venv), each is also ``vlforge <command>``.

``replay`` looks the sample and its parent up in a release folder or a run
folder (``--from``), reads images from its ``images/`` folder or the image store
(``--store``, default ``$VLFORGE_HOME/store/images``), prints ``OK`` or
``MISMATCH`` and exits 0 or 1. The ``releases`` commands read the catalog at ``--catalog URL`` (default
``$VLFORGE_CATALOG_URL``, else ``$VLFORGE_HOME/catalog.sqlite``) and print JSON
with ``--json``. The ``review`` commands talk to the Label Studio at ``--url``
(``$LABEL_STUDIO_URL``) with ``--api-key`` (``$LABEL_STUDIO_API_KEY``), whose local files
are served from ``--document-root`` (``$LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from vlforge.compare import Comparison, compare_releases, release_metrics
from vlforge.demo import prepare_demo
from vlforge.layout import DatasetReleases, store_root, vlforge_home

_METRIC_HEADERS = {
    "iou_agreement": "IOU",
    "ocr_accuracy": "OCR",
    "action_completeness": "ACTIONS",
    "bertscore_f1": "BERTSCORE_F1",
}


def build_parser() -> argparse.ArgumentParser:
    """The ``vlforge`` command line: one subcommand per verb."""
    parser = argparse.ArgumentParser(prog="vlforge", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("prepare-demo", help="copy the demo dataset into a folder")
    demo.add_argument("folder", type=Path)
    latest = commands.add_parser("latest", help="show the newest release of a dataset")
    latest.add_argument("dataset")
    _add_releases_parser(commands)
    replay = commands.add_parser("replay", help="replay an augmented sample from its parent, or a synthetic one from its lineage, and compare the image bytes")
    replay.add_argument("sample_id")
    replay.add_argument(
        "--from", dest="folder", type=Path, required=True, metavar="DIR", help="a release folder, a run folder or a manifest"
    )
    replay.add_argument("--store", type=Path, metavar="DIR", help="the image store (default: $VLFORGE_HOME/store/images)")
    replay.add_argument("--scene-model", type=Path, metavar="DIR", help="for a generated scene: the diffusers folder its lineage names")
    _add_calibrate_parser(commands)
    thumbnails = commands.add_parser("thumbnails", help="draw every sample's gallery thumbnail into a release folder")
    thumbnails.add_argument("folder", type=Path, help="a release folder")
    _add_review_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    if arguments.command == "thumbnails":
        return _thumbnails(arguments.folder)
    if arguments.command == "prepare-demo":
        print(prepare_demo(arguments.folder))
        return 0
    if arguments.command == "releases":
        return _releases(arguments)
    if arguments.command == "replay":
        return _replay(arguments)
    if arguments.command == "calibrate":
        return _calibrate(arguments)
    if arguments.command == "review":
        return _review(arguments)
    version = DatasetReleases.of(vlforge_home(), arguments.dataset).latest_version()
    if version is None:
        print(f"no release of {arguments.dataset!r} under {vlforge_home()}", file=sys.stderr)
        return 1
    folder = DatasetReleases.of(vlforge_home(), arguments.dataset).version(version)
    print(f"release: {folder.path}")
    print(f"report:  {folder.report}")
    return 0


def _add_releases_parser(commands: Any) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--catalog", metavar="URL", help="SQLAlchemy URL (default: $VLFORGE_CATALOG_URL, else $VLFORGE_HOME/catalog.sqlite)"
    )
    common.add_argument("--json", action="store_true", help="print JSON instead of a table")
    releases = commands.add_parser("releases", help="the release catalog: list, show and diff releases")
    actions = releases.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", parents=[common], help="every release, oldest first")
    listing.add_argument("--dataset")
    show = actions.add_parser("show", parents=[common], help="one release in full")
    show.add_argument("dataset")
    show.add_argument("version")
    diff = actions.add_parser("diff", parents=[common], help="release NEW against release OLD")
    diff.add_argument("dataset")
    diff.add_argument("old")
    diff.add_argument("new")
    diff.add_argument(
        "--tolerance",
        action="append",
        default=[],
        metavar="METRIC=VALUE",
        help="how far METRIC may fall before it is a regression (repeatable; '*' for every other metric; default 0)",
    )


def _add_calibrate_parser(commands: Any) -> None:
    from vlforge.quality.config import MINILM

    calibrate = commands.add_parser(
        "calibrate",
        help="calibrate a BERTScore threshold on captions of the same images by different people",
        description="Prints the encoder's quality.text_encoders entry: threshold, ROC AUC, false accept and reject rates.",
    )
    calibrate.add_argument("captions", type=Path, help="{image: [captions]} JSON or a COCO captions file")
    calibrate.add_argument("--model-path", metavar="DIR", help="a local Hugging Face encoder (default: the shipped MiniLM)")
    calibrate.add_argument("--num-layers", type=int, default=MINILM.num_layers, help="layers kept (default: %(default)s)")
    calibrate.add_argument("--name", help="the encoder's name in the recipe (default: the folder's name)")
    calibrate.add_argument("--languages", nargs="+", default=list(MINILM.languages), help="languages it covers")
    calibrate.add_argument("--seed", type=int, default=0, help="draws the different-image pairs when there are many")


def _calibrate(arguments: argparse.Namespace) -> int:
    from vlforge.quality.calibration import calibrate_file
    from vlforge.quality.config import MINILM

    encoder = MINILM.model_validate(
        {
            "name": arguments.name or (Path(arguments.model_path).name if arguments.model_path else MINILM.name),
            "model_path": arguments.model_path,
            "num_layers": arguments.num_layers,
            "languages": arguments.languages,
            "bertscore_f1": {},
        }
    )
    print(calibrate_file(arguments.captions, encoder, arguments.seed), end="")
    return 0


def _add_review_parser(commands: Any) -> None:
    server = argparse.ArgumentParser(add_help=False)
    server.add_argument("release", type=Path, help="a release folder, e.g. data/releases/demo/current")
    server.add_argument("--url", default=os.environ.get("LABEL_STUDIO_URL"), help="Label Studio (default: $LABEL_STUDIO_URL)")
    server.add_argument(
        "--api-key", default=os.environ.get("LABEL_STUDIO_API_KEY"), help="its API token (default: $LABEL_STUDIO_API_KEY)"
    )
    server.add_argument(
        "--document-root",
        type=Path,
        default=os.environ.get("LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT"),
        metavar="DIR",
        help="the folder Label Studio serves local files from (default: $LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT)",
    )
    review = commands.add_parser("review", help="the review loop in Label Studio: push review items, pull adjudications")
    actions = review.add_subparsers(dest="action", required=True)
    actions.add_parser(
        "push", parents=[server], help="create or update the release's review project: label config, image storage, tasks"
    )
    pull = actions.add_parser(
        "pull", parents=[server], help="export the adjudicated tasks into the folder of exports the next run reads"
    )
    pull.add_argument("--into", type=Path, metavar="DIR", help="that folder (default: the release's source folder)")


def _review(arguments: argparse.Namespace) -> int:
    from vlforge.quality import review_loop

    missing = [
        option
        for option, value in (("--url", arguments.url), ("--api-key", arguments.api_key), ("--document-root", arguments.document_root))
        if not value
    ]
    if missing:
        print(f"vlforge review {arguments.action}: give {', '.join(missing)} (or set the environment variables in --help)", file=sys.stderr)
        return 2
    try:
        release = review_loop.read_review_release(arguments.release)
        server = review_loop.LabelStudioServer(arguments.url, arguments.api_key)
        if arguments.action == "push":
            result = review_loop.push(release, server, arguments.document_root)
        else:
            result = review_loop.pull(release, server, arguments.document_root, arguments.into)
    except review_loop.ReviewLoopError as error:
        print(error, file=sys.stderr)
        return 1
    print(result.summary())
    return 0


def _releases(arguments: argparse.Namespace) -> int:
    from vlforge.catalog import (
        open_catalog,  # SQLAlchemy: only for the commands that need it
    )

    try:
        tolerance = _tolerances(arguments.tolerance) if arguments.action == "diff" else {}
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    with open_catalog(arguments.catalog) as catalog:
        if arguments.action == "list":
            rows = catalog.list_releases(arguments.dataset)
            print(json.dumps(rows, indent=2) if arguments.json else _release_table(rows))
            return 0
        wanted = [arguments.version] if arguments.action == "show" else [arguments.old, arguments.new]
        found = [catalog.get_release(arguments.dataset, version) for version in wanted]
    missing = [version for version, row in zip(wanted, found, strict=True) if row is None]
    if missing:
        print(f"not in the catalog: {', '.join(f'{arguments.dataset}/{version}' for version in missing)}", file=sys.stderr)
        return 1
    rows = [row for row in found if row is not None]
    if arguments.action == "show":
        print(json.dumps(rows[0], indent=2) if arguments.json else _release_text(rows[0]))
        return 0
    comparison = compare_releases(rows[0], rows[1], tolerance)
    print(json.dumps(comparison.to_dict(), indent=2) if arguments.json else _comparison_text(comparison))
    return 0


def _replay(arguments: argparse.Namespace) -> int:
    # albumentations and OpenCV: imported only for this command
    from vlforge.augment.replay import check_replay
    from vlforge.layout import sample_manifests
    from vlforge.manifest import find_sample
    from vlforge.synth.compose.rule import compose_params
    from vlforge.synth.compose.stage import check_recompose
    from vlforge.synth.scenes.render import check_rerender, scene_params
    from vlforge.synth.stage import replay_synthetic

    try:
        found = find_sample(sample_manifests(arguments.folder), arguments.sample_id)
        if found is not None and compose_params(found) is not None:
            ok, detail = check_recompose(arguments.folder, arguments.sample_id)
            print(f"{'OK' if ok else 'MISMATCH'} {arguments.sample_id}: {detail}")
            return 0 if ok else 1
        if found is not None and scene_params(found) is not None:
            if arguments.scene_model is None:
                raise ValueError(f"sample {arguments.sample_id} is a generated scene ({scene_params(found)['generator']}): pass --scene-model DIR")
            ok, detail = check_rerender(arguments.folder, arguments.sample_id, arguments.scene_model)
            print(f"{'OK' if ok else 'MISMATCH'} {arguments.sample_id}: {detail}")
            return 0 if ok else 1
        if found is not None and found.synthetic and found.lineage:  # rendered by the synthesize stage
            base = arguments.folder.parent if arguments.folder.is_file() else arguments.folder
            replayed = replay_synthetic(found, arguments.store or store_root(vlforge_home()), base / "images")
            print(f"{'OK' if replayed.ok else 'MISMATCH'} {replayed.sample_id} (synthetic, {found.lineage[0].op}): {replayed.detail}")
            return 0 if replayed.ok else 1
        check = check_replay(arguments.folder, arguments.sample_id, arguments.store or store_root(vlforge_home()))
    except (LookupError, ValueError) as error:
        print(error, file=sys.stderr)
        return 1
    ops = ", ".join(check.ops) or "no ops"
    print(f"{'OK' if check.ok else 'MISMATCH'} {check.sample_id} (parent {check.parent_id}; {ops}): {check.detail}")
    return 0 if check.ok else 1


def _thumbnails(folder: Path) -> int:
    """Exit 0 when every sample has its thumbnail; 1 (listing why) when some image could not be drawn."""
    from vlforge.views.release_folder import FolderDamage, ReleaseFolder
    from vlforge.views.thumbnails import build_thumbnails

    try:
        result = build_thumbnails(ReleaseFolder(folder))
    except FolderDamage as damage:
        print(f"no thumbnails: {damage}", file=sys.stderr)
        return 1
    print(f"{result.drawn} thumbnails drawn, {result.cached} already there, {len(result.failed)} failed, in {result.seconds:.1f} s")
    for sample_id, why in sorted(result.failed.items()):
        print(f"  {sample_id}: {why}", file=sys.stderr)
    return 1 if result.failed else 0


def _tolerances(items: list[str]) -> dict[str, float]:
    tolerance = {}
    for item in items:
        name, _, value = item.partition("=")
        try:
            tolerance[name.strip()] = float(value)
        except ValueError:
            raise ValueError(f"--tolerance takes METRIC=VALUE, e.g. bertscore_f1=0.02; got {item!r}") from None
    return tolerance


def _release_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no releases in the catalog"
    header = ["DATASET", "VERSION", "STATUS", "CURRENT", "CREATED", "SAMPLES", "SYNTHETIC", *_METRIC_HEADERS.values()]
    body = [
        [
            row["dataset"],
            row["version"],
            row["status"],
            "*" if row["current"] else "",
            row["created_at"],
            _cell(row["samples"]),
            _percent(row["synthetic_share"]),
            *(_cell(row[name]) for name in _METRIC_HEADERS),
        ]
        for row in rows
    ]
    return _table(header, body)


def _release_text(row: dict[str, Any]) -> str:
    lines = [
        f"{row['dataset']} {row['version']}  ({row['status']}{', current' if row['current'] else ''})",
        f"  content hash:   {row['content_hash']}",
        f"  parent:         {row['parent_version'] or '-'}",
        f"  created:        {row['created_at']}",
        f"  recipe hash:    {row['recipe_hash'] or '-'}",
        f"  seed:           {_cell(row['seed'])}",
        f"  path:           {row['path'] or '-'}",
        f"  samples:        {_cell(row['samples'])} (synthetic {_percent(row['synthetic_share'])})",
    ]
    for title, counts in (("by task type", row["counts"].get("by_task_type")), ("by split", row["counts"].get("by_split"))):
        if counts:
            lines.append(f"  {title + ':':<15} " + ", ".join(f"{key} {value}" for key, value in counts.items()))
    metrics = release_metrics(row)
    if metrics:
        lines += ["", _indent(_table(["METRIC", "MEAN"], [[name, _cell(value)] for name, value in metrics.items()]))]
    if row["gates"]:
        gate_rows = [
            [gate.get("name", "?"), "passed" if gate.get("passed") else "FAILED", ", ".join(gate.get("failed") or [])]
            for gate in row["gates"]
        ]
        lines += ["", _indent(_table(["GATE", "RESULT", "FAILED EXPECTATIONS"], gate_rows))]
    for promotion in row.get("promotions", []):
        forced = f", forced by {promotion['forced_by']}: {promotion['reason']}" if promotion["forced_by"] else ""
        lines.append(f"  promoted {promotion['promoted_at']} (previous: {promotion['previous_version'] or '-'}){forced}")
    return "\n".join(lines)


def _comparison_text(comparison: Comparison) -> str:
    metric_rows = [
        [
            change.name,
            _cell(change.old),
            _cell(change.new),
            _signed(change.delta),
            _cell(change.tolerance),
            "REGRESSION" if change.regressed else "improved" if change.improved else "",
        ]
        for change in comparison.metrics.values()
    ]
    count_rows = [
        [task, _cell(change.old), _cell(change.new), _signed(change.delta)]
        for task, change in comparison.counts_by_task_type.items()
    ]
    old_share, new_share = comparison.synthetic_share
    count_rows.append(["synthetic share", _percent(old_share), _percent(new_share), ""])
    parts = [comparison.summary()]
    if metric_rows:
        parts.append(_table(["METRIC", "OLD", "NEW", "DELTA", "TOLERANCE", ""], metric_rows))
    parts.append(_table(["SAMPLES", "OLD", "NEW", "DELTA"], count_rows))
    return "\n\n".join(parts)


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)) for line in [header, *rows]]
    return "\n".join(line.rstrip() for line in lines)


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _signed(value: float | int | None) -> str:
    if value is None:
        return "-"
    return f"{value:+.4f}" if isinstance(value, float) else f"{value:+d}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


if __name__ == "__main__":
    sys.exit(main())
