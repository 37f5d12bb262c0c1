"""vlforge.data_docs and the gates' GX project: templates compiled once, the project file written once, no config variables file."""

from __future__ import annotations

from pathlib import Path

import great_expectations as gx
import jinja2
import pandas as pd
import pytest
from great_expectations.core.config_provider import _ConfigurationVariablesConfigurationProvider
from great_expectations.data_context.data_context_variables import FileDataContextVariables

from vlforge import data_docs
from vlforge.data_docs import CachedJinjaIndexPageView, CachedJinjaPageView, cached_views_site
from vlforge.gates import run_gate
from vlforge.layout import RunDir


def _gate(name: str, run_dir: RunDir) -> None:
    suite = gx.ExpectationSuite(name=f"{name}.rows", expectations=[gx.expectations.ExpectColumnValuesToNotBeNull(column="x")])
    run_gate(name, {"rows": pd.DataFrame({"x": [1, 2, 3]})}, {"rows": suite}, run_dir)


@pytest.fixture
def cache_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "jinja_cache"
    folder.mkdir()
    cache = jinja2.FileSystemBytecodeCache(str(folder))
    monkeypatch.setattr(data_docs, "bytecode_cache", lambda: cache)
    return folder


def test_a_later_gate_renders_its_pages_without_compiling_a_template(
    tmp_path: Path, cache_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = RunDir(tmp_path / "run")
    _gate("first", run_dir)
    assert any(cache_folder.iterdir())

    def no_compiling(*args: object, **kwargs: object) -> None:
        raise AssertionError("a template was compiled although the cache holds it")

    monkeypatch.setattr(jinja2.Environment, "compile", no_compiling)
    _gate("second", run_dir)
    index = (run_dir.data_docs / "index.html").read_text(encoding="utf-8")
    assert "first/rows" in index and "second/rows" in index
    assert any("validations/second/rows" in str(page) for page in run_dir.data_docs.rglob("*.html"))


def test_without_the_cache_every_gate_compiles_its_templates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data_docs, "bytecode_cache", lambda: None)
    compiled = []
    compile_template = jinja2.Environment.compile

    def counting(self: jinja2.Environment, *args: object, **kwargs: object) -> object:
        compiled.append(args[1] if len(args) > 1 else kwargs.get("name"))
        return compile_template(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(jinja2.Environment, "compile", counting)
    run_dir = RunDir(tmp_path / "run")
    _gate("first", run_dir)
    first = len(compiled)
    _gate("second", run_dir)
    assert first > 0 and len(compiled) - first >= first // 2


def test_the_project_file_is_written_at_the_first_gate_only(
    tmp_path: Path, cache_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    saves = []
    save = FileDataContextVariables.save

    def counting(self: FileDataContextVariables) -> object:
        saves.append(1)
        return save(self)

    monkeypatch.setattr(FileDataContextVariables, "save", counting)
    run_dir = RunDir(tmp_path / "run")
    _gate("first", run_dir)
    assert len(saves) == 1
    _gate("second", run_dir)
    _gate("third", run_dir)
    assert len(saves) == 1
    context = gx.get_context(mode="file", project_root_dir=str(run_dir.path))
    site = context.variables.data_docs_sites["local_site"]
    assert site["site_index_builder"]["view"]["class_name"] == "CachedJinjaIndexPageView"
    assert dict(context.variables.progress_bars)["globally"] is False
    assert context.variables.config_variables_file_path is None


def test_a_later_gate_reads_no_config_variables_file(tmp_path: Path, cache_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_dir = RunDir(tmp_path / "run")
    _gate("first", run_dir)
    reads = []
    monkeypatch.setattr(_ConfigurationVariablesConfigurationProvider, "get_values", lambda self: reads.append(1) or {})
    _gate("second", run_dir)
    assert reads == []
    assert run_dir.gate_summary("second").is_file()


def test_a_site_gets_the_cached_views_on_its_index_and_every_section_and_the_original_is_unchanged() -> None:
    site = {"class_name": "SiteBuilder", "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"}}
    cached = cached_views_site(site)
    assert site == {"class_name": "SiteBuilder", "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"}}
    assert cached["site_index_builder"] == {
        "class_name": "DefaultSiteIndexBuilder",
        "view": {"module_name": "vlforge.data_docs", "class_name": CachedJinjaIndexPageView.__name__},
    }
    page_view = {"module_name": "vlforge.data_docs", "class_name": CachedJinjaPageView.__name__}
    assert cached["site_section_builders"] == {name: {"view": page_view} for name in ("expectations", "validations", "profiling")}
    assert cached_views_site(cached) == cached


def test_a_template_the_cache_cannot_write_is_rendered_all_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = data_docs._BestEffortBytecodeCache(str(tmp_path / "jinja_cache"))
    (tmp_path / "jinja_cache").mkdir()
    monkeypatch.setattr(data_docs, "bytecode_cache", lambda: cache)

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(jinja2.FileSystemBytecodeCache, "dump_bytecode", disk_full)
    run_dir = RunDir(tmp_path / "run")
    _gate("first", run_dir)
    assert "first/rows" in (run_dir.data_docs / "index.html").read_text(encoding="utf-8")
    assert not any((tmp_path / "jinja_cache").iterdir())
