"""vlforge as an installed package: pyproject.toml, the editable install `make` does, the `vlforge` command.

The commands run the way a user runs them: `.venv/bin/vlforge` from outside the checkout, with
no PYTHONPATH, so only the installed package can be found.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tomllib
from pathlib import Path

from setuptools import find_packages

from vlforge.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
VLFORGE = REPO / ".venv" / "bin" / "vlforge"


def _user_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH" and not key.startswith(("VLFORGE", "LABEL_STUDIO"))}
    return env | {"NO_ALBUMENTATIONS_UPDATE": "1"} | extra


def _vlforge(*arguments: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(VLFORGE), *arguments], cwd="/", env=_user_env(**env), capture_output=True, text=True, timeout=120)


def _verbs(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command line that selects a leaf of the parser: ('latest',), ('releases', 'list'), ..."""
    subparsers = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    if not subparsers:
        return [prefix]
    return [verb for name, child in subparsers[0].choices.items() for verb in _verbs(child, (*prefix, name))]


def test_pyproject_installs_every_vlforge_package_from_include_with_the_command() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert project["project"]["scripts"] == {"vlforge": "vlforge.cli:main"}
    found = project["tool"]["setuptools"]["packages"]["find"]
    assert found == {"where": ["include"], "include": ["vlforge*"]}
    packages = set(find_packages(where=str(REPO / found["where"][0]), include=found["include"]))
    on_disk = {".".join(init.parent.relative_to(REPO / "include").parts) for init in (REPO / "include" / "vlforge").rglob("__init__.py")}
    assert packages == on_disk and "vlforge.quality" in packages


def test_the_installed_vlforge_is_this_checkouts() -> None:
    imported = subprocess.run(
        [str(REPO / ".venv" / "bin" / "python"), "-c", "import vlforge; print(vlforge.__file__)"],
        cwd="/",
        env=_user_env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(imported) == REPO / "include" / "vlforge" / "__init__.py", (
        f"{VLFORGE} runs {imported}: run `make setup` here (or `.venv/bin/pip install --no-deps --no-build-isolation -e .`)"
    )


def test_every_cli_verb_is_a_vlforge_command() -> None:
    verbs = _verbs(build_parser())
    assert verbs == [
        ("prepare-demo",),
        ("latest",),
        ("releases", "list"),
        ("releases", "show"),
        ("releases", "diff"),
        ("replay",),
        ("calibrate",),
        ("thumbnails",),
        ("review", "push"),
        ("review", "pull"),
    ]
    for verb in verbs:
        shown = _vlforge(*verb, "--help")
        assert shown.returncode == 0, shown.stderr
        assert shown.stdout.startswith(f"usage: vlforge {' '.join(verb)} "), shown.stdout


def test_the_command_reports_what_the_cli_returns(tmp_path: Path) -> None:
    missing = _vlforge("releases", "show", "demo", "0123456789ab", "--catalog", f"sqlite:///{tmp_path / 'catalog.sqlite'}")
    assert (missing.returncode, missing.stderr.strip()) == (1, "not in the catalog: demo/0123456789ab")
    unset = _vlforge("review", "push", str(tmp_path))
    assert (unset.returncode, unset.stderr.strip()) == (
        2,
        "vlforge review push: give --url, --api-key, --document-root (or set the environment variables in --help)",
    )


def test_pythonpath_comes_before_the_installed_package(tmp_path: Path) -> None:
    """Airflow's tasks import vlforge from include/ through PYTHONPATH, whatever checkout the venv points at."""
    shadow = tmp_path / "vlforge"
    shadow.mkdir()
    (shadow / "__init__.py").write_text("")
    (shadow / "cli.py").write_text("def main():\n    print('the vlforge on PYTHONPATH')\n    return 0\n")
    assert _vlforge(PYTHONPATH=str(tmp_path)).stdout == "the vlforge on PYTHONPATH\n"
