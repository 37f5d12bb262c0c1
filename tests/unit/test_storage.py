"""An object-store ``VLFORGE_HOME`` (fsspec's in-memory store here; S3 in tests/integration/test_object_store.py):
what a task's working copy carries back, the shared image store, and every part that refuses an object store."""

from __future__ import annotations

import json
from pathlib import Path

import fsspec
import pytest

from vlforge.catalog import catalog_url
from vlforge.layout import ObjectStoreUnsupported, is_object_store, parse_home, vlforge_home
from vlforge.prepare import prepare_run
from vlforge.run import RunDescription
from vlforge.storage import ObjectStoreHome, switch_current_pointer
from vlforge.views.release_folder import FolderDamage, ReleaseFolder


@pytest.fixture
def home_uri(tmp_path: Path) -> str:
    """A fresh prefix of the process-wide in-memory store."""
    return f"memory://vlforge-{tmp_path.name}/home"


def _keys(uri: str) -> list[str]:
    filesystem, root = fsspec.core.url_to_fs(uri)
    return sorted(str(key).removeprefix(root + "/") for key in filesystem.find(root))


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("s3://bucket/prefix/", "s3://bucket/prefix"),
        ("gs://bucket", "gs://bucket"),
        ("file:///srv/vlforge", Path("/srv/vlforge")),
        ("/srv/vlforge", Path("/srv/vlforge")),
    ],
)
def test_parse_home_keeps_an_object_store_uri_and_resolves_a_folder(setting: str, expected: str | Path) -> None:
    assert parse_home(setting) == expected
    assert is_object_store(setting) == isinstance(expected, str)


def test_a_relative_folder_is_resolved_against_the_current_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert parse_home("data") == tmp_path.resolve() / "data"


def test_a_run_description_passes_an_object_store_uri_on_intact(home_uri: str) -> None:
    run = RunDescription(home=home_uri, dataset="shop", run="run1")
    again = RunDescription.from_json(json.loads(json.dumps(run.to_json())))
    assert again.home == home_uri and again == run  # a Path would have made "memory:/..." of it
    assert "working_copy" not in run.to_json()


def test_a_task_works_on_a_local_copy_and_carries_back_what_it_wrote(home_uri: str, recipe) -> None:
    run = prepare_run(home_uri, "shop", "run1", recipe)
    assert _keys(home_uri) == ["runs/shop/run1/recipe.json"]

    with run.working() as first:
        folder = first.run_dir.path
        assert first.local_home != Path(home_uri) and first.run_dir.recipe.is_file()
        assert first.recipe.name == recipe.name
        (folder / "compose").mkdir()
        (folder / "compose" / "shard-0.parquet").write_bytes(b"shard 0")
        (folder / "stats.json").write_text("{}")
    assert not folder.exists()  # the working copy goes with the task
    assert _keys(home_uri) == ["runs/shop/run1/compose/shard-0.parquet", "runs/shop/run1/recipe.json", "runs/shop/run1/stats.json"]

    with run.working() as second:  # the next task, maybe on another machine, finds it all
        assert (second.run_dir.path / "compose" / "shard-0.parquet").read_bytes() == b"shard 0"
        (second.run_dir.path / "stats.json").unlink()
        (second.run_dir.path / "compose" / "shard-0.parquet").write_bytes(b"shard 0, again")
    assert _keys(home_uri) == ["runs/shop/run1/compose/shard-0.parquet", "runs/shop/run1/recipe.json"]
    assert fsspec.open(f"{home_uri}/runs/shop/run1/compose/shard-0.parquet").open().read() == b"shard 0, again"


def test_mapped_shards_on_two_machines_keep_each_others_files(home_uri: str, recipe) -> None:
    run = prepare_run(home_uri, "shop", "run1", recipe)
    with run.working() as first, run.working() as second:  # both downloaded before either uploads
        first.run_dir.augment_shard("shard-00000").parent.mkdir(parents=True)
        first.run_dir.augment_shard("shard-00000").write_bytes(b"first")
        second.run_dir.augment_shard("shard-00001").parent.mkdir(parents=True)
        second.run_dir.augment_shard("shard-00001").write_bytes(b"second")
    with run.working() as merge:
        shards = sorted(merge.run_dir.augment_shard("x").parent.iterdir())
        assert [path.read_bytes() for path in shards] == [b"first", b"second"]


def test_a_failed_task_still_carries_back_its_files_as_a_local_run_folder_keeps_them(home_uri: str, recipe) -> None:
    run = prepare_run(home_uri, "shop", "run1", recipe)
    with pytest.raises(RuntimeError, match="gate failed") as failure, run.working() as task:
        (task.run_dir.path / "gx_results").mkdir()
        (task.run_dir.path / "gx_results" / "ingest.json").write_text("{}")
        raise RuntimeError("gate failed")
    assert "runs/shop/run1/gx_results/ingest.json" in _keys(home_uri)
    assert f"is uploaded to {home_uri}/runs/shop/run1" in failure.value.__notes__[0]


def test_images_go_to_the_shared_store_as_they_are_put_and_come_back_when_opened(home_uri: str, recipe) -> None:
    run = prepare_run(home_uri, "shop", "run1", recipe)
    with run.working() as task:
        digest = task.store.put(b"pixels", "png")
        assert task.store.put(b"pixels", "png") == digest  # put twice, stored once
    assert f"store/images/{digest[:2]}/{digest}.png" in _keys(home_uri)
    with run.working() as later:
        assert not (later.store_dir / digest[:2]).exists()  # nothing is fetched until it is opened
        assert later.store.path_for(digest, "png").read_bytes() == b"pixels"
        assert later.store.contains(digest, "png") and not later.store.contains("0" * 64, "png")


def test_a_run_on_an_object_store_refuses_to_name_local_files_outside_a_working_copy(home_uri: str) -> None:
    run = RunDescription(home=home_uri, dataset="shop", run="run1")
    with pytest.raises(ObjectStoreUnsupported, match=r"lives on the object store VLFORGE_HOME=memory://.*RunDescription.working\(\)"):
        run.run_dir  # noqa: B018 - the property is what refuses


def test_a_local_run_is_its_own_working_copy(tmp_path: Path) -> None:
    run = RunDescription(home=tmp_path, dataset="shop", run="run1")
    with run.working() as task:
        assert task is run and task.object_store is None


def test_current_moves_only_to_a_finished_upload(home_uri: str, tmp_path: Path) -> None:
    home = ObjectStoreHome(home_uri)
    folder = tmp_path / "release"
    (folder / "images").mkdir(parents=True)
    (folder / "images" / "a.png").write_bytes(b"a")
    (folder / "RELEASE.json").write_text("{}")
    url = home.publish_release(folder, "shop", "v1")
    assert url == f"{home_uri}/releases/shop/v1"
    assert _keys(home_uri) == ["releases/shop/LATEST", "releases/shop/v1/RELEASE.json", "releases/shop/v1/images/a.png"]
    switch_current_pointer(f"{home_uri}/releases/shop", "v1")
    assert home.current_version("shop") == "v1" and home.published_versions("shop") == ["v1"]
    with pytest.raises(FileNotFoundError, match="no published release .*/releases/shop/v2"):
        switch_current_pointer(f"{home_uri}/releases/shop", "v2")
    assert home.current_version("shop") == "v1"


# Every part that cannot work on an object store says so, naming the setting and what to use instead.
def test_the_default_sqlite_catalog_refuses_an_object_store_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VLFORGE_CATALOG_URL", raising=False)
    with pytest.raises(ObjectStoreUnsupported, match=r"VLFORGE_HOME=s3://b/h is an object store.*set VLFORGE_CATALOG_URL"):
        catalog_url(home="s3://b/h")
    monkeypatch.setenv("VLFORGE_HOME", "s3://b/h")
    with pytest.raises(ObjectStoreUnsupported, match="VLFORGE_CATALOG_URL"):
        catalog_url()
    assert catalog_url("postgresql+psycopg2://u@h/db", home="s3://b/h") == "postgresql+psycopg2://u@h/db"
    monkeypatch.setenv("VLFORGE_CATALOG_URL", "sqlite:////srv/catalog.sqlite")
    assert catalog_url(home="s3://b/h") == "sqlite:////srv/catalog.sqlite"


def test_a_part_that_needs_a_local_folder_refuses_an_object_store_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLFORGE_HOME", "s3://b/h")
    with pytest.raises(ObjectStoreUnsupported, match=r"VLFORGE_HOME=s3://b/h is an object store, but the preannotate DAG .* needs a local"):
        vlforge_home("the preannotate DAG (a Label Studio import file with local image paths)")
    with pytest.raises(ObjectStoreUnsupported, match="set VLFORGE_HOME to a local or mounted folder"):
        vlforge_home()


def test_the_scenes_dag_refuses_an_object_store_home_before_anything_else(recipe) -> None:
    with pytest.raises(ObjectStoreUnsupported, match=r"scenes DAG .*LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT.*set VLFORGE_HOME"):
        prepare_run("s3://b/h", "scenes", "run1", recipe, scenes=True)


def test_the_dashboard_says_it_cannot_show_a_release_on_an_object_store() -> None:
    with pytest.raises(FolderDamage, match="release s3://b/h/releases/shop/v1 is on an object store.*mount the bucket"):
        ReleaseFolder("s3://b/h/releases/shop/v1").release()


def test_vlforge_latest_refuses_an_object_store_home(monkeypatch: pytest.MonkeyPatch) -> None:
    from vlforge.cli import main

    monkeypatch.setenv("VLFORGE_HOME", "s3://b/h")
    with pytest.raises(ObjectStoreUnsupported, match="VLFORGE_HOME=s3://b/h is an object store"):
        main(["latest", "shop"])
