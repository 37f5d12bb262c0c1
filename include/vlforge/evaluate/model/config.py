"""Which model answers the release's test prompts, and how it is asked: ``ModelBackendConfig``.

Two kinds of backend, one interface (``vlforge.evaluate.model.backends``):

- ``transformers``: a local Qwen2-VL / Qwen2.5-VL / Qwen3-VL folder (``model_path``), loaded once per process;
- ``openai``: an OpenAI-compatible ``/chat/completions`` endpoint (vLLM, SGLang, LMDeploy serve one) at
  ``base_url`` with ``api_key``, asking for ``served_model``. In the DAG these three come from an Airflow
  connection: ``ModelBackendConfig.from_connection(host, password, extra)``.

``generation`` names the export whose prompts are asked and whose box convention the answers are read in:
``qwen_vl`` (``exports/qwen_vl_chatml``, ``<box>(x1,y1),(x2,y2)</box>`` in 0-1000), ``qwen2_5_vl``
(``exports/qwen2_5_vl``, JSON ``bbox_2d`` in pixels of the smart-resized image) or ``qwen3_vl``
(``exports/qwen3_vl``, JSON ``bbox_2d`` in 0-1000).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

BackendKind = Literal["transformers", "openai"]
Generation = Literal["qwen_vl", "qwen2_5_vl", "qwen3_vl"]
# generation -> the export format whose files hold its prompts (``vlforge.export.EXPORTERS``).
EXPORT_FORMATS: dict[str, str] = {"qwen_vl": "qwen_vl_chatml", "qwen2_5_vl": "qwen2_5_vl", "qwen3_vl": "qwen3_vl"}


class ModelConfigError(ValueError):
    """A backend configuration that cannot be used; names the key, the value and what is allowed."""


class ModelBackendConfig(BaseModel):
    """A VLM to evaluate on a release's test split and how to ask it.

    Args:
        kind: ``transformers`` (a local folder) or ``openai`` (an OpenAI-compatible endpoint).
        generation: the Qwen-VL generation whose export and box convention are used.
        name: the model's name in the evaluation rows; default the served model or the folder's name.
        model_path: the local model folder (``transformers``).
        base_url: the endpoint's base, e.g. ``http://127.0.0.1:8000/v1`` (``openai``).
        api_key: sent as ``Authorization: Bearer``; vLLM without ``--api-key`` accepts any.
        served_model: the ``model`` of each request (vLLM's ``--served-model-name``).
        batch_size: prompts generated together (``transformers``) or requests in flight (``openai``).
        timeout_s: one request's limit (``openai``).
        retries: further tries after a timeout, a connection error, HTTP 429 or 5xx (``openai``).
        backoff_s: the wait before the first retry; it doubles for each further one.
        max_new_tokens: the longest answer.
        device, dtype: where and how a local model runs.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: BackendKind
    generation: Generation
    name: str | None = Field(None, min_length=1)
    model_path: str | None = None
    base_url: str | None = None
    api_key: str = "EMPTY"
    served_model: str | None = None
    batch_size: int = Field(8, ge=1, le=1024)
    timeout_s: float = Field(60.0, gt=0, le=3600)
    retries: int = Field(3, ge=0, le=20)
    backoff_s: float = Field(1.0, ge=0, le=600)
    max_new_tokens: int = Field(256, ge=1, le=32768)
    device: str = "cpu"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"

    @model_validator(mode="after")
    def _kind_needs(self) -> ModelBackendConfig:
        needed = {"transformers": ("model_path",), "openai": ("base_url", "served_model")}[self.kind]
        missing = [key for key in needed if not getattr(self, key)]
        if missing:
            raise ValueError(f"kind {self.kind!r} needs {missing}")
        return self

    @property
    def model_name(self) -> str:
        """The model's name in the evaluation rows."""
        if self.name:
            return self.name
        if self.kind == "openai":
            return str(self.served_model)
        return str(self.model_path).rstrip("/").rsplit("/", 1)[-1]

    @property
    def export_format(self) -> str:
        return EXPORT_FORMATS[self.generation]

    @classmethod
    def parse(cls, raw: dict[str, Any], where: str = "model backend") -> ModelBackendConfig:
        """Validate ``raw``; errors name ``where``, the key, the value and the allowed keys.

        Raises:
            ModelConfigError: listing every problem.
        """
        try:
            return cls.model_validate(raw)
        except ValidationError as error:
            lines = [f"{where} is invalid:"]
            for problem in error.errors():
                key = ".".join(str(part) for part in problem["loc"]) or "(whole)"
                if problem["type"] == "extra_forbidden":
                    lines.append(f"  {key}: unknown key; allowed: {sorted(cls.model_fields)}")
                else:
                    lines.append(f"  {key} = {problem.get('input')!r}: {problem['msg']}")
            raise ModelConfigError("\n".join(lines)) from None

    @classmethod
    def from_connection(
        cls, host: str, password: str | None, extra: str | dict[str, Any] | None, conn_id: str = "connection", **overrides: Any
    ) -> ModelBackendConfig:
        """An ``openai`` backend from an Airflow connection: host = base URL, password = API key, extra = the rest.

        Args:
            host: the connection's host, the whole base URL (``http://vllm:8000/v1``).
            password: the API key (None or empty: ``EMPTY``).
            extra: the connection's extra (JSON text or a dict) with ``generation``, ``served_model`` and any
                other key of this class.
            conn_id: named in errors.
            overrides: keys that win over the extra (a DAG run's Params).

        Raises:
            ModelConfigError: naming the connection, the key and what is allowed.
        """
        try:
            settings = json.loads(extra) if isinstance(extra, str) and extra.strip() else dict(extra or {})
        except json.JSONDecodeError as error:
            raise ModelConfigError(f"connection {conn_id}: extra is not JSON ({error}): {extra!r}") from None
        if not isinstance(settings, dict):
            raise ModelConfigError(f"connection {conn_id}: extra must be a JSON object, got {settings!r}")
        raw = {"kind": "openai", **settings, "base_url": host, **overrides}
        if password:
            raw["api_key"] = password
        return cls.parse(raw, f"connection {conn_id}")
