"""An OpenAI-compatible ``chat.completion`` response body, as vLLM, SGLang and LMDeploy answer, for test servers."""

from __future__ import annotations

from typing import Any


def completion(text: str) -> dict[str, Any]:
    """The response schema's required fields around one assistant answer ``text``."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1764547200,
        "model": "tiny",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }
