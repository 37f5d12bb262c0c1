"""The backend configuration: kinds, Airflow connections, and errors that name the key."""

from __future__ import annotations

import pytest

from vlforge.evaluate.model.config import ModelBackendConfig, ModelConfigError


def test_an_unknown_key_is_named_with_the_allowed_keys() -> None:
    with pytest.raises(ModelConfigError) as raised:
        ModelBackendConfig.parse({"kind": "transformers", "generation": "qwen3_vl", "model_path": "m", "batchsize": 4}, "recipe x")
    message = str(raised.value)
    assert "recipe x" in message and "batchsize: unknown key" in message and "'batch_size'" in message


def test_a_bad_value_is_named_with_the_value() -> None:
    with pytest.raises(ModelConfigError, match=r"generation = 'qwen4_vl'"):
        ModelBackendConfig.parse({"kind": "transformers", "generation": "qwen4_vl", "model_path": "m"})
    with pytest.raises(ModelConfigError, match=r"timeout_s = 0"):
        ModelBackendConfig.parse({"kind": "transformers", "generation": "qwen3_vl", "model_path": "m", "timeout_s": 0})


@pytest.mark.parametrize(
    ("raw", "missing"),
    [
        ({"kind": "transformers", "generation": "qwen_vl"}, "model_path"),
        ({"kind": "openai", "generation": "qwen_vl", "served_model": "m"}, "base_url"),
        ({"kind": "openai", "generation": "qwen_vl", "base_url": "http://h/v1"}, "served_model"),
    ],
)
def test_each_kind_needs_its_keys(raw: dict[str, str], missing: str) -> None:
    with pytest.raises(ModelConfigError, match=missing):
        ModelBackendConfig.parse(raw)


def test_an_airflow_connection_gives_the_url_the_key_and_the_rest() -> None:
    config = ModelBackendConfig.from_connection(
        "http://vllm:8000/v1", "secret", '{"generation": "qwen2_5_vl", "served_model": "qwen", "batch_size": 16}', "vlm", retries=1
    )
    assert (config.kind, config.base_url, config.api_key, config.served_model) == ("openai", "http://vllm:8000/v1", "secret", "qwen")
    assert (config.batch_size, config.retries, config.export_format, config.model_name) == (16, 1, "qwen2_5_vl", "qwen")
    assert ModelBackendConfig.from_connection("http://h/v1", None, {"generation": "qwen3_vl", "served_model": "m"}).api_key == "EMPTY"


@pytest.mark.parametrize(("extra", "message"), [("{not json", "extra is not JSON"), ("[1]", "extra must be a JSON object")])
def test_a_broken_connection_extra_is_named(extra: str, message: str) -> None:
    with pytest.raises(ModelConfigError, match=f"connection vlm: {message}"):
        ModelBackendConfig.from_connection("http://h/v1", "", extra, "vlm")
    with pytest.raises(ModelConfigError, match="connection vlm is invalid"):
        ModelBackendConfig.from_connection("http://h/v1", "", '{"generation": "qwen3_vl", "model": "m"}', "vlm")


def test_the_model_name_defaults_to_the_folder() -> None:
    config = ModelBackendConfig(kind="transformers", generation="qwen_vl", model_path="/models/Qwen2-VL-2B/")
    assert (config.model_name, config.export_format) == ("Qwen2-VL-2B", "qwen_vl_chatml")
    assert config.model_copy(update={"name": "mine"}).model_name == "mine"
