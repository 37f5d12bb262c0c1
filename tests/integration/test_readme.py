"""Every shell command in README.md, run as written, in a checkout of its own.

Commands are read from the README's ```bash blocks (a line ending in a backslash continues
the command; comment lines are skipped) and run with ``bash -c`` from the checkout's root,
one after another in one shell state (``export`` carries over), with the placeholders filled
(``<token>``, ``<version A>``, ``/path/to/export.json``, ... and the review walk-through's port
8081, which becomes a free port). The environment is a new user's: no PYTHONPATH, no Airflow or
vlforge variables, the virtualenv not activated; only the offline switches this machine needs
(no internet) are set.

The checkout is a temporary folder whose Makefile, pyproject.toml, requirements files, scripts/,
include/, dags/, plugins/, .venv and .lsvenv are links to this repository, and whose data/,
.airflow/ and .label-studio/ are its own: the README's relative paths (data/..., $PWD/data)
mean what they mean for a user, and this repository's data is not touched.

``test_review_walkthrough_in_label_studio`` follows the "Reviewing in Label Studio" section
literally against a real Label Studio 1.23.2 (from .lsvenv, which ``make test`` builds); the
reviewer's clicks in the labelling UI are the one step done through Label Studio's API instead.
``test_every_other_readme_command_runs_as_written`` runs every other command, except the four
that cannot run inside a test, which it checks with ``make -n`` (dry run) and says why.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest
import yaml
from support.tiny_qwen_vl import build_tiny_qwen_vl
from support.tiny_scenes import PROMPTS, build_tiny_clip, build_tiny_stable_diffusion

pytestmark = pytest.mark.timeout(1800)  # make demo, Label Studio's first start and two DAG runs

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
FIXTURES = REPO.parent / "shared" / "fixtures"
WALKTHROUGH = "Reviewing in Label Studio"
LINKED = [
    *("Makefile", "pyproject.toml", "requirements.txt", "requirements-label-studio.txt"),
    *("include", "dags", "plugins", "scripts", "tests", ".venv", ".lsvenv"),
]
LABEL_STUDIO = REPO / ".lsvenv" / "bin" / "label-studio"
TOKEN = "vlforge-readme-test-0123456789abcdef"  # any string of 6+ characters, as the README says
PLACEHOLDER = re.compile(r"<[a-z][a-z _]*>")
# This machine has no internet: without these, imports would wait on update checks and hub lookups.
OFFLINE = {"HF_HUB_OFFLINE": "1", "NO_ALBUMENTATIONS_UPDATE": "1", "GX_ANALYTICS_ENABLED": "False"}


def readme_commands(section: str | None = None) -> list[str]:
    """The shell commands of the README's ```bash blocks (of one ``###`` section when named), in order."""
    text = README.read_text(encoding="utf-8")
    if section is not None:
        start = text.index(f"### {section}\n")
        end = text.find("\n#", start + 4)
        text = text[start : end if end != -1 else None]
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL):
        pending = ""
        for line in block.splitlines():
            if not pending and (not line.strip() or line.lstrip().startswith("#")):
                continue
            pending += line + "\n"
            if not line.endswith("\\"):
                commands.append(pending.rstrip("\n"))
                pending = ""
    return commands


def fill(command: str, values: dict[str, str]) -> str:
    for placeholder, value in values.items():
        command = command.replace(placeholder, value)
    assert not PLACEHOLDER.search(command), f"unfilled placeholder in {command!r}"
    return command


@dataclass
class Ran:
    command: str
    returncode: int
    output: str

    def ok(self) -> Ran:
        assert self.returncode == 0, f"`{self.command}` exited {self.returncode}:\n{self.output[-6000:]}"
        return self


@dataclass
class Shell:
    """``bash -c`` per command in ``cwd``, carrying the environment over (so ``export`` works) and
    remembering the process group of each command sent to the background with ``&``."""

    cwd: Path
    logs: Path
    env: dict[str, str] = field(default_factory=dict)
    background: list[int] = field(default_factory=list)

    def run(self, command: str, timeout: float = 900) -> Ran:
        number = len(list(self.logs.glob("*.log")))
        log, env_file = self.logs / f"{number:02d}.log", self.logs / f"{number:02d}.env"
        script = f"{command}\n__status=$?\nenv -0 > '{env_file}'\nexit $__status\n"
        with log.open("w") as out:
            # Its own session: a background job stays in this group, to be stopped by the test.
            process = subprocess.Popen(
                ["bash", "-c", script], cwd=self.cwd, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
            if command.rstrip().endswith("&"):
                self.background.append(process.pid)
            try:
                returncode = process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                raise
        if env_file.is_file():
            pairs = (item.split("=", 1) for item in env_file.read_text().split("\0") if "=" in item)
            self.env = dict(pairs)
        return Ran(command, returncode, log.read_text(errors="replace"))

    def stop_background(self) -> None:
        for group in self.background:
            try:
                os.killpg(group, signal.SIGTERM)
            except ProcessLookupError:
                continue
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and _group_alive(group):
                time.sleep(0.5)
            if _group_alive(group):
                os.killpg(group, signal.SIGKILL)


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def user_env() -> dict[str, str]:
    """A new user's shell: the virtualenv not activated, nothing of make's, Airflow's or a test's."""
    dropped = ("AIRFLOW", "VLFORGE", "LABEL_STUDIO", "PYTHONPATH", "VIRTUAL_ENV", "PYTEST", "MAKE", "MFLAGS")
    env = {key: value for key, value in os.environ.items() if not key.startswith(dropped)}
    env["PATH"] = os.pathsep.join(part for part in env.get("PATH", "").split(os.pathsep) if "/.venv/" not in part + "/")
    return env | OFFLINE


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Ran]]:
    """The temporary checkout, after the README's first command, ``make demo``."""
    installed = subprocess.run(
        [str(REPO / ".venv" / "bin" / "python"), "-c", "import vlforge; print(vlforge.__file__)"],
        env=user_env(),
        cwd="/",
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(installed).resolve().is_relative_to(REPO / "include"), (
        f"the `vlforge` command runs {installed}, not this checkout: `make setup` installs it "
        "(or `.venv/bin/pip install --no-deps --no-build-isolation -e .`)"
    )
    root = tmp_path_factory.mktemp("checkout")
    for name in LINKED:
        if (REPO / name).exists():
            (root / name).symlink_to(REPO / name)
    logs = tmp_path_factory.mktemp("logs")
    (demo,) = [command for command in readme_commands() if command.startswith("make demo")]
    made = Shell(root, logs, user_env()).run(demo).ok()
    yield root, made


def _versions(root: Path) -> list[str]:
    """The demo releases, oldest first."""
    releases = root / "data" / "releases" / "demo"
    created = {
        folder.name: json.loads((folder / "RELEASE.json").read_text())["created_at"]
        for folder in releases.iterdir()
        if (folder / "RELEASE.json").is_file() and not folder.is_symlink()
    }
    return sorted(created, key=lambda version: (created[version], version))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_up(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise AssertionError(f"Label Studio did not answer at {url}/health within {seconds:.0f} s")


@pytest.fixture
def shell(checkout: tuple[Path, Ran], tmp_path: Path) -> Iterator[Shell]:
    logs = tmp_path / "logs"
    logs.mkdir()
    session = Shell(checkout[0], logs, user_env())
    try:
        yield session
    finally:
        session.stop_background()


def test_review_walkthrough_in_label_studio(checkout: tuple[Path, Ran], shell: Shell) -> None:
    if not LABEL_STUDIO.is_file():
        pytest.skip(f"Label Studio is not installed at {LABEL_STUDIO}: `make label-studio` could not build .lsvenv here")
    root, _ = checkout
    before = (root / "data" / "releases" / "demo" / "current").resolve()
    review = json.loads((before / "review" / "review_tasks.json").read_text())
    (rocket,) = [task["data"]["vlforge_item_id"] for task in review]
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    values = {"<token>": TOKEN, "--port 8081": f"--port {port}", "http://127.0.0.1:8081": url}
    commands = readme_commands(WALKTHROUGH)
    assert [command.split()[0] for command in commands] == [
        "make", "export", ".lsvenv/bin/label-studio", "export", ".venv/bin/vlforge",
        ".venv/bin/vlforge", "make", ".venv/bin/vlforge",
    ]  # fmt: skip
    up_to_push, after_review = commands[:5], commands[5:]

    for command in up_to_push[:-1]:
        shell.run(fill(command, values)).ok()
        if command.endswith("&"):
            _wait_until_up(url, 300)
    push = fill(up_to_push[-1], values)
    pushed = shell.run(push).ok().output
    project = int(re.match(r"project (\d+) created: 1 review task\(s\) imported, 0 already there\n", pushed).group(1))
    assert f"review them at {url}/projects/{project}/data" in pushed
    # Pushing again updates the project and imports nothing twice.
    assert shell.run(push).ok().output.startswith(f"project {project} updated: 0 review task(s) imported, 1 already there")

    api = httpx.Client(base_url=url, headers={"Authorization": f"Token {TOKEN}"}, timeout=60)
    (task,) = api.get("/api/tasks", params={"project": project}).raise_for_status().json()["tasks"]
    assert task["data"]["vlforge_item_id"] == rocket
    # The storage push created lets Label Studio serve the release's image.
    image = api.get(task["data"]["image"])
    (reference,) = {sample["data"]["image"] for sample in review}
    assert image.status_code == 200
    assert image.content == (before / reference.split("?d=", 1)[1]).read_bytes()

    # The reviewer, in the UI: opens the task, keeps round 1 (its predictions are the rounds), presses Submit,
    # which saves an annotation without ground truth.
    listed = api.get("/api/predictions", params={"task": task["id"]}).raise_for_status().json()
    predictions = {prediction["model_version"]: prediction for prediction in listed}
    assert sorted(predictions) == ["round 1 (2)", "round 2 (1)"]
    submitted = api.post(f"/api/tasks/{task['id']}/annotations", json={"result": predictions["round 1 (2)"]["result"]})
    assert submitted.raise_for_status().json()["ground_truth"] is False

    pulled = shell.run(fill(after_review[0], values)).ok().output.splitlines()
    export = root / "data" / "demo" / f"review-demo-{before.name}.json"
    assert pulled[:3] == [
        f"resolved 1 item(s), the reviewer's annotation as the gold round: {rocket}",
        "still to review: none",
        f"wrote {export}",
    ]
    assert pulled[3] == (
        f"the next run reads every export in {root / 'data' / 'demo'}: label_studio_captions.json, label_studio_export.json, "
        f"{export.name}"
    )
    next_run = {
        "source": str(root / "data" / "demo"),
        "source_format": "label_studio",
        "dataset": "demo",
        "recipe": "demo",
        "images_root": [str(root / "data")],
    }
    assert pulled[4] == f"next run: make run CONF='{json.dumps(next_run)}'"
    (adjudicated,) = json.loads(export.read_text())
    (annotation,) = adjudicated["annotations"]
    assert (adjudicated["data"]["vlforge_item_id"], annotation["ground_truth"]) == (rocket, True)

    shell.run(fill(after_review[1], values)).ok()
    first, *_, second = _versions(root)
    assert (first, (root / "data" / "releases" / "demo" / "LATEST").read_text().strip()) == (before.name, second)
    after = root / "data" / "releases" / "demo" / second
    counts = json.loads((after / "RELEASE.json").read_text())["counts"]
    assert (counts["items_in_review"], counts["items_resolved_by_gold"], counts["review_tasks"]) == (0, 1, 0)
    assert json.loads((after / "review" / "review_tasks.json").read_text()) == []
    agreement = pq.read_table(after / "agreement.parquet").to_pylist()
    assert {row["status"] for row in agreement} == {"released"}
    assert [row["item_id"] for row in agreement].count(rocket) == 1
    manifest = pq.read_table(after / "manifest.parquet", columns=["item_id", "gold", "lineage", "source"]).to_pylist()
    # One annotated round of the rocket (augmented copies, with a lineage, may come beside it).
    (rocket_round,) = [row for row in manifest if row["item_id"] == rocket and not row["lineage"]]
    assert rocket_round["gold"] and rocket_round["source"]["file"] == export.name

    diff = shell.run(fill(after_review[2], values | {"<version before>": first, "<version after>": second})).ok().output
    assert diff.startswith(f"demo {second} vs {first}: ")


def _dry_run(command: str) -> str:
    assert command.startswith("make ")
    return "make -n " + command.removeprefix("make ")


def test_every_other_readme_command_runs_as_written(checkout: tuple[Path, Ran], shell: Shell, tmp_path: Path) -> None:
    root, made_demo = checkout
    versions = _versions(root)
    current = (root / "data" / "releases" / "demo" / "current").resolve()
    manifest = pq.read_table(current / "manifest.parquet", columns=["sample_id", "lineage"]).to_pylist()
    augmented = [row["sample_id"] for row in manifest if row["lineage"]]
    unlabelled = root / "unlabelled"
    unlabelled.mkdir(exist_ok=True)
    shutil.copy(FIXTURES / "images_from_wheels" / "skimage" / "chelsea.png", unlabelled / "chelsea.png")
    values = {
        "/path/to/export.json": str(root / "data" / "demo" / "label_studio_export.json"),
        "/data/unlabelled": str(unlabelled),
        "<sample_id>": augmented[0],
        "<version>": versions[-1],
        "<version A>": versions[0],
        "<version B>": versions[-1],
    }

    def demo(command: str) -> None:
        first = root / "data" / "releases" / "demo" / versions[0]
        lines = made_demo.output.splitlines()
        release_line = lines.index(f"release: {first}")
        assert lines[release_line + 1] == f"report:  {first / 'report.html'}"
        assert lines[-2].startswith("dashboard: run 'make airflow', open http://127.0.0.1:8080/plugin/vlforge")

    def dry(expected: str) -> Callable[[str], None]:
        def check(command: str) -> None:
            assert expected in shell.run(_dry_run(fill(command, values))).ok().output

        return check

    def help_lists_every_command(command: str) -> None:
        output = shell.run(command).ok().output
        assert re.search(r"\{prepare-demo,latest,releases,replay,calibrate,thumbnails,review\}", output), output

    def calibrate(command: str) -> None:
        """The README's calibration figures are what the command prints."""
        row = re.search(r"\| all-MiniLM-L6-v2, layer 6 \|.*\| ([\d.]+) \| ([\d.]+) \| ([\d.]+%) \| ([\d.]+%) \|", README.read_text())
        auc, threshold, false_accepts, false_rejects = row.groups()
        printed = f"# threshold {threshold}: ROC AUC {auc}, false accepts {false_accepts}, false rejects {false_rejects}"
        assert printed in shell.run(command).ok().output

    def preannotate(command: str) -> None:
        model = build_tiny_qwen_vl(tmp_path / "tiny_qwen2_5_vl", "qwen2_5_vl")
        shell.run(fill(command, values | {"/models/Qwen2.5-VL-3B-Instruct": str(model)})).ok()
        (written,) = (root / "data" / "preannotate").glob("*/tasks.json")
        (task,) = json.loads(written.read_text())
        assert task["data"]["image"].endswith("chelsea.png") and task["predictions"]

    def scenes(command: str) -> None:
        """The scene DAG with tiny random Stable Diffusion, CLIP and Qwen-VL models in the README's recipe."""
        words = sorted({word for prompt in PROMPTS for word in prompt.split()})
        models = {
            "model_path": str(build_tiny_stable_diffusion(tmp_path / "tiny-sd", words)),
            "clip_model_path": str(build_tiny_clip(tmp_path / "tiny-clip", words)),
        }
        scene_settings = {"prompts": list(PROMPTS), "images_per_prompt": 1, "width": 64, "height": 48, "steps": 2, "clip_threshold": -1.0}
        vlm = {"model_path": str(build_tiny_qwen_vl(tmp_path / "tiny-scene-qwen", "qwen2_vl")), "max_new_tokens": 16}
        recipe = tmp_path / "night_rain.yaml"
        recipe.write_text(yaml.safe_dump({"scenes": scene_settings | models, "preannotate": {"vlm": vlm}}), encoding="utf-8")
        shell.run(fill(command, values | {"/recipes/night_rain.yaml": str(recipe)})).ok()
        (written,) = (root / "data" / "runs" / "street").glob("*/scenes/review_tasks.json")
        assert len(json.loads(written.read_text())) == len(PROMPTS)

    def replay(command: str) -> None:
        assert re.match(rf"OK {augmented[0]}\b", shell.run(fill(command, values)).ok().output)

    def releases(command: str) -> None:
        output = shell.run(fill(command, values)).ok().output
        expected = {"list": f"demo     {versions[0]}", "show": f"demo {versions[-1]}  (", "diff": f"demo {versions[-1]} vs "}
        action = command.split()[2]
        assert expected[action] in output if action == "list" else output.startswith(expected[action]), output

    def connection(command: str) -> None:
        name = command.split()[4]
        assert f"Successfully added `conn_id`={name}" in shell.run(command).ok().output
        got = shell.run(f"AIRFLOW_HOME=$PWD/.airflow .venv/bin/airflow connections get {name} -o json").ok().output
        (stored,) = json.loads(got.strip().splitlines()[-1])  # after Airflow's warnings
        assert (stored["conn_id"], stored["conn_type"]) == (name, command.split("--conn-type ")[1].split()[0])

    def evaluate(command: str) -> None:
        """The demo's current release evaluated: Tesseract's read-back of its OCR samples in the results."""
        shell.run(command).ok()
        (results,) = (root / "data" / "evaluations" / "demo").glob("*/*/results.json")
        rows = json.loads(results.read_text())
        assert {"ocr_accuracy", "ocr_word_f1"} <= {row["metric"] for row in rows if row["evaluator"] == "ocr_readability"}

    # Each README command (by how it starts) and how this test checks it.
    checks: list[tuple[str, Callable[[str], None]]] = [
        ("make demo", demo),  # run by the checkout fixture, before everything else
        ("make test", dry("pytest -q tests")),  # it runs this suite: running it here would recurse
        ("make airflow", dry("airflow standalone")),  # a server that runs until it is stopped
        # A release of your own data; the same target runs for real in the review walk-through.
        ('make run CONF=\'{"source": "/path/to/export.json"', dry("scripts/run_dag.sh vlforge_release '{")),
        ("make bench", dry("bench/run.py")),  # every benchmark: half an hour on two cores
        (".venv/bin/vlforge --help", help_lists_every_command),
        ("make calibrate", calibrate),
        ("make run DAG=vlforge_preannotate", preannotate),
        ("make run DAG=vlforge_synthesize_scenes", scenes),
        ("make run DAG=vlforge_evaluate", evaluate),
        (".venv/bin/vlforge replay", replay),
        (".venv/bin/vlforge releases", releases),
        ("AIRFLOW_HOME=$PWD/.airflow .venv/bin/airflow connections add", connection),
    ]
    walkthrough = readme_commands(WALKTHROUGH)
    checked = []
    for command in readme_commands():
        if command in walkthrough:
            continue  # run by test_review_walkthrough_in_label_studio
        matching = [check for start, check in checks if command.startswith(start)]
        assert len(matching) == 1, f"README command that this test does not know how to check: {command!r}"
        matching[0](command)
        checked.append(command)
    assert len(checked) == 16
