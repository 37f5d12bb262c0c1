"""The scene review file against a real Label Studio 1.23 server: imported with its label config and predictions, its
images served from a Local Files storage, a reviewer's ground-truth annotation exported, and the export ingested.

Label Studio lives in its own virtualenv (Django pins): set ``VLFORGE_LABEL_STUDIO`` to its ``label-studio``
executable, or build ``.lsvenv`` in the repository; otherwise the test is skipped.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.tiny_qwen_vl import build_tiny_qwen_vl
from support.tiny_scenes import PROMPTS, TinyModels, build_tiny_clip, build_tiny_stable_diffusion, generate_scenes, one_torch_thread

from vlforge.ingest import run_ingest
from vlforge.manifest import read_manifest
from vlforge.prepare import prepare_run

REPO = Path(__file__).resolve().parents[2]
PORT = 18181
TOKEN = "vlforge-scenes-test-token"
LABEL_STUDIO = Path(os.environ.get("VLFORGE_LABEL_STUDIO") or REPO / ".lsvenv" / "bin" / "label-studio")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not LABEL_STUDIO.is_file(), reason=f"no Label Studio at {LABEL_STUDIO}: set VLFORGE_LABEL_STUDIO or build .lsvenv"
    ),
]


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scenes run of the tiny models: its review folder (four tasks)."""
    root = tmp_path_factory.mktemp("scenes")
    words = sorted({word for prompt in PROMPTS for word in prompt.split()})
    with one_torch_thread():
        models = TinyModels(
            stable_diffusion=build_tiny_stable_diffusion(root / "tiny-sd", words),
            clip=build_tiny_clip(root / "tiny-clip", words),
            qwen=build_tiny_qwen_vl(root / "tiny-qwen", "qwen2_vl"),
        )
        run, _ = generate_scenes(root / "home", models, "review")
    return run.run_dir.scenes


@pytest.fixture(scope="module")
def server(scenes: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    data = tmp_path_factory.mktemp("label_studio")
    environment = os.environ | {
        "LABEL_STUDIO_BASE_DATA_DIR": str(data),
        "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED": "true",
        "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(scenes),
        "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
    }
    command = [str(LABEL_STUDIO), "start", "--no-browser", "--internal-host", "127.0.0.1", "--port", str(PORT)]
    command += ["--username", "reviewer@example.com", "--password", "reviewer-password", "--user-token", TOKEN]
    with (data / "server.log").open("wb") as log:
        process = subprocess.Popen(command, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    client = httpx.Client(base_url=f"http://127.0.0.1:{PORT}", headers={"Authorization": f"Token {TOKEN}"}, timeout=60)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                if client.get("/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, (data / "server.log").read_text(errors="replace")[-2000:]
            time.sleep(2)
        else:
            pytest.fail("Label Studio did not answer /health within 300 s")
        yield client
    finally:
        client.close()
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)


def _call(client: httpx.Client, method: str, url: str, **arguments: Any) -> Any:  # noqa: ANN401 - JSON
    answer = client.request(method, url, **arguments)
    assert answer.status_code < 400, f"{method} {url}: {answer.status_code} {answer.text[:500]}"
    return answer.json() if answer.content else None


def test_a_reviewed_scene_project_exports_what_ingest_releases(scenes: Path, server: httpx.Client, tmp_path: Path) -> None:
    tasks = json.loads((scenes / "review_tasks.json").read_text(encoding="utf-8"))
    project = _call(server, "POST", "/api/projects", json={"title": "scenes", "label_config": (scenes / "label_config.xml").read_text()})
    _call(server, "POST", "/api/storages/localfiles", json={"project": project["id"], "path": str(scenes / "images"), "title": "scenes"})
    imported = _call(server, "POST", f"/api/projects/{project['id']}/import", json=tasks)
    assert (imported["task_count"], imported["prediction_count"]) == (4, 4)

    stored = sorted(_call(server, "GET", "/api/tasks", params={"project": project["id"], "page_size": 100})["tasks"], key=lambda task: task["id"])
    served = server.get(stored[0]["data"]["image"])
    assert served.status_code == 200 and served.content == (scenes / "images" / f"{tasks[0]['meta']['sha256']}.png").read_bytes()
    for number, task in enumerate(stored):
        box = {"x": 0, "y": 0, "width": 50, "height": 100, "rotation": 0, "rectanglelabels": ["Text"]}
        result = [
            {"id": "b", "type": "rectanglelabels", "from_name": "label", "to_name": "image", "original_width": 64, "original_height": 48, "value": box},
            {"id": "c", "type": "textarea", "from_name": "caption", "to_name": "image", "value": {"text": [f"Scene {number}."]}},
        ]
        _call(server, "POST", f"/api/tasks/{task['id']}/annotations", json={"result": result, "ground_truth": number < 3})
    export = _call(server, "GET", f"/api/projects/{project['id']}/export", params={"exportType": "JSON"})
    assert [task["data"]["vlforge_scene"] for task in export] == [task["data"]["vlforge_scene"] for task in tasks]

    source = tmp_path / "export.json"
    source.write_text(json.dumps(export), encoding="utf-8")
    run = prepare_run(tmp_path / "home", "street", "release", "default", source=str(source), images_root=str(scenes))
    stats = run_ingest(run)
    assert (stats["rows_ok"], stats["rows_quarantined"]) == (3, 1)
    samples = read_manifest(run.run_dir.ingested)
    assert [json.loads(sample.lineage[0].params_json) for sample in samples] == [task["data"]["vlforge_scene"] for task in tasks[:3]]
    assert all(sample.synthetic and sample.gold and sample.boxes[0].x2 == 32.0 for sample in samples)
    (quarantined,) = [json.loads(line) for line in run.run_dir.quarantine.read_text(encoding="utf-8").splitlines()]
    assert quarantined["reason"].startswith("generated scene was not accepted by a reviewer")
