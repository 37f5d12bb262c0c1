"""The release DAG with ``VLFORGE_HOME`` on an S3-compatible server (moto, started here), read back from it.

The server runs in this process on a free loopback port; s3fs finds it through ``AWS_ENDPOINT_URL``,
the same setting a deployment on MinIO or Ceph uses. The DAG runs with ``dag.test()`` like the other
DAG tests, once on the local ``VLFORGE_HOME`` and once on ``s3://<bucket>/home``, on the same input:
the two releases must be the same version, with the same samples, images and exports.
"""

from __future__ import annotations

import json
from pathlib import Path

import fsspec
import pandas as pd
import pytest
from support.recipes import DEMO_REAL_ONLY_RECIPE

from vlforge.demo import prepare_demo
from vlforge.layout import run_folder_name
from vlforge.release import read_release
from vlforge.storage import ObjectStoreHome, switch_current_pointer

pytestmark = pytest.mark.slow
BUCKET = "vlforge-test"
DATASET = "objstore"


@pytest.fixture(scope="module")
def s3_endpoint():  # yields the endpoint URL
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            patch.setenv(name, value)
        # fsspec keeps one S3 filesystem per set of options: one made before this server would point elsewhere.
        fsspec.filesystem("s3", skip_instance_cache=True).mkdir(BUCKET)
        yield endpoint
    server.stop()


def _run_release(dagbag, home: str | Path, source: Path, monkeypatch: pytest.MonkeyPatch):  # returns the DagRun
    dag = dagbag.get_dag("vlforge_release")
    # The DAG reads VLFORGE_HOME once, as a module constant, like a deployment's workers do at start.
    monkeypatch.setitem(dag.get_task("prepare").python_callable.__globals__, "VLFORGE_HOME", str(home))
    conf = {"source": str(source), "source_format": "label_studio", "dataset": DATASET, "recipe": DEMO_REAL_ONLY_RECIPE}
    return dag.test(run_conf=conf)


def test_release_dag_on_an_object_store_matches_a_local_run_and_reads_back(
    dagbag, vlforge_home: Path, s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.utils.state import DagRunState

    export = prepare_demo(tmp_path / "demo")
    local_run = _run_release(dagbag, vlforge_home, export, monkeypatch)
    assert local_run.state == DagRunState.SUCCESS
    local_version = (vlforge_home / "releases" / DATASET / "LATEST").read_text().strip()
    local = vlforge_home / "releases" / DATASET / local_version

    uri = f"s3://{BUCKET}/home"
    monkeypatch.setenv("VLFORGE_CATALOG_URL", f"sqlite:///{tmp_path / 'catalog.sqlite'}")
    monkeypatch.chdir(tmp_path)  # anything written beside the current folder would show up here
    local_runs = sorted(path.name for path in (vlforge_home / "runs" / DATASET).iterdir())
    s3_run = _run_release(dagbag, uri, export, monkeypatch)
    assert s3_run.state == DagRunState.SUCCESS, {ti.task_id: ti.state for ti in s3_run.get_task_instances()}

    home = ObjectStoreHome(uri)
    assert home.published_versions(DATASET) == [local_version]
    assert home.latest_version(DATASET) == home.current_version(DATASET) == local_version
    url = f"{uri}/releases/{DATASET}/{local_version}"
    release = read_release(url)
    expected = json.loads((local / "RELEASE.json").read_text())
    assert (release["version"], release["content_hash"]) == (expected["version"], expected["content_hash"])
    assert release["counts"] == expected["counts"] and release["metrics"] == expected["metrics"]
    assert release["path"] == url and release["report"] == f"{url}/report.html"

    fs = home.fs
    with fs.open(f"{BUCKET}/home/releases/{DATASET}/{local_version}/manifest.parquet") as handle:
        manifest = pd.read_parquet(handle)
    pd.testing.assert_frame_equal(manifest, pd.read_parquet(local / "manifest.parquet"))
    remote_images = sorted(Path(key).name for key in fs.find(f"{BUCKET}/home/releases/{DATASET}/{local_version}/images"))
    assert remote_images == sorted(path.name for path in (local / "images").iterdir()) and remote_images
    for name in remote_images:  # the bytes, not only the names
        remote = fs.cat_file(f"{BUCKET}/home/releases/{DATASET}/{local_version}/images/{name}")
        assert remote == (local / "images" / name).read_bytes()
    for files in release["exports"].values():
        for name in files:
            remote = fs.cat_file(f"{BUCKET}/home/releases/{DATASET}/{local_version}/exports/{name}")
            assert remote == (local / "exports" / name).read_bytes(), name
    # The shared store holds every released image under its content address.
    for image in manifest["images"].explode().dropna():
        assert fs.exists(f"{BUCKET}/home/store/images/{image['sha256'][:2]}/{image['sha256']}.{image['format']}")
    # The run folder is on the store too, with what every task wrote (the gates' summaries last).
    (s3_run_folder,) = fs.ls(f"{BUCKET}/home/runs/{DATASET}")
    gates = sorted(Path(key).stem for key in fs.find(f"{s3_run_folder}/gates"))
    assert gates == ["augment", "curate", "ingest", "quality", "synth"]

    # Nothing of the object-store run was written locally: not in the local home, not beside the current folder.
    assert sorted(path.name for path in (vlforge_home / "runs" / DATASET).iterdir()) == local_runs
    assert sorted(path.name for path in tmp_path.iterdir()) == ["catalog.sqlite", "demo"]

    # A second run of the same input is the same release: found on the store, not uploaded again.
    again = _run_release(dagbag, uri, export, monkeypatch)
    assert again.state == DagRunState.SUCCESS
    assert home.published_versions(DATASET) == [local_version]

    # A run whose ingest gate fails leaves the release current, and its gate's full result on the store.
    broken = tmp_path / "demo" / "broken.json"
    tasks = json.loads(export.read_text())
    for item in tasks:
        item["data"]["image"] = item["data"]["image"].replace("skimage/", "missing/")
    broken.write_text(json.dumps(tasks))
    failed = _run_release(dagbag, uri, broken, monkeypatch)
    assert failed.state == DagRunState.FAILED
    assert {ti.task_id: ti.state for ti in failed.get_task_instances()}["gate_ingest"] == "failed"
    assert home.published_versions(DATASET) == [local_version] and home.current_version(DATASET) == local_version
    failed_folder = f"{BUCKET}/home/runs/{DATASET}/{run_folder_name(failed.run_id)}"
    assert fs.exists(f"{failed_folder}/gx_results/ingest.json") and not fs.exists(f"{failed_folder}/agreement.parquet")


def test_a_reader_never_sees_a_half_uploaded_release(s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = ObjectStoreHome(f"s3://{BUCKET}/half")
    first, second = _release_folder(tmp_path / "first", "first"), _release_folder(tmp_path / "second", "second")
    url = home.publish_release(first, DATASET, "v1")
    switch_current_pointer(url.rsplit("/", 1)[0], "v1")

    original_put = home.fs.put
    uploaded: list[str] = []

    def interrupted(sources: list[str], targets: list[str], **options: object) -> None:
        # Half of the folder's files reach the store, then the connection drops.
        half = len(sources) // 2
        original_put(sources[:half], targets[:half], **options)
        uploaded.extend(targets[:half])
        raise ConnectionError("connection reset by peer")

    monkeypatch.setattr(home.fs, "put", interrupted)
    with pytest.raises(ConnectionError):
        home.publish_release(second, DATASET, "v2")
    assert uploaded and all(home.fs.exists(key) for key in uploaded)  # objects of v2 are there...
    assert home.published_versions(DATASET) == ["v1"]  # ...but no reader sees v2
    assert not home.is_published(DATASET, "v2")
    with pytest.raises(FileNotFoundError, match="v2/RELEASE.json"):
        read_release(home.url(home.release_key(DATASET, "v2")))
    assert home.latest_version(DATASET) == home.current_version(DATASET) == "v1"
    assert read_release(url)["name"] == "first"
    with pytest.raises(FileNotFoundError, match="no published release"):
        switch_current_pointer(url.rsplit("/", 1)[0], "v2")

    monkeypatch.undo()  # the connection is back: publishing again finishes the release
    home.publish_release(second, DATASET, "v2")
    assert home.published_versions(DATASET) == ["v1", "v2"] and home.latest_version(DATASET) == "v2"
    assert home.current_version(DATASET) == "v1"  # promotion, not publishing, moves current


def _release_folder(folder: Path, name: str) -> Path:
    """A small folder shaped like a release: RELEASE.json, a manifest stand-in and some images."""
    (folder / "images").mkdir(parents=True)
    for index in range(6):
        (folder / "images" / f"{name}-{index}.png").write_bytes(bytes([index]) * 100)
    (folder / "manifest.parquet").write_bytes(name.encode())
    (folder / "RELEASE.json").write_text(json.dumps({"name": name}))
    return folder
