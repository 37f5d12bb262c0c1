"""The OpenAI-compatible backend against a real HTTP server started here, answering in the ``chat.completion`` schema.

The server plays a scripted model: per prompt (told apart by its question) a list of behaviours, one per
attempt: answer the reference turn, answer garbage, send a malformed body, fail with HTTP 500, or stall
past the client's timeout.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from support.chat_completion import completion

from vlforge.evaluate.model.config import ModelBackendConfig
from vlforge.evaluate.model.prompts import read_prompts
from vlforge.evaluate.model.score import ANSWERED, aggregate_model_scores, score_model_on_samples
from vlforge.layout import ReleaseDir
from vlforge.records import Sample

pytestmark = pytest.mark.slow  # a server, timeouts, and the BERTScore encoder

TIMEOUT_S = 0.5
STALL_S = 2.0
LATE_S = 0.3
# sample -> what the server does at each attempt (the last one repeats).
SCRIPT = {
    "ground0000": ["answer"],
    "ocr0000": ["http500", "answer"],
    "gui0000": ["garbage"],
    "caption0000": ["malformed"],
    "vqa0000": ["stall", "answer"],
    "video0000": ["stall"],
}


class ScriptedModel:
    """What the server knows: the reference answer of each question, the script, and what it was sent."""

    def __init__(self, references: dict[str, tuple[str, str]], script: dict[str, list[str]]) -> None:
        self.references = references  # question -> (sample id, reference answer)
        self.script = script
        self.attempts: Counter[str] = Counter()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[str] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.lock = threading.Lock()


def question(messages: list[dict[str, Any]]) -> str:
    last_user = [message for message in messages if message["role"] == "user"][-1]
    return "".join(part["text"] for part in last_user["content"] if part["type"] == "text").strip()


def handler_for(model: ScriptedModel) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep the test output quiet
            return

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            sample_id, reference = model.references[question(body["messages"])]
            with model.lock:
                model.requests.append(body)
                model.headers.append(self.headers["Authorization"])
                behaviours = model.script.get(sample_id, ["late"])
                behaviour = behaviours[min(model.attempts[sample_id], len(behaviours) - 1)]
                model.attempts[sample_id] += 1
                model.in_flight += 1
                model.most_in_flight = max(model.most_in_flight, model.in_flight)
            try:
                if behaviour == "stall":
                    time.sleep(STALL_S)
                if behaviour == "late":
                    time.sleep(LATE_S)
                if behaviour == "http500":
                    self._send(500, b'{"error": "overloaded"}')
                elif behaviour == "malformed":
                    self._send(200, b'{"choices": [{"message": {"content": ')
                else:
                    text = reference if behaviour in ("answer", "stall", "late") else "Sorry, I cannot help with that."
                    self._send(200, json.dumps(completion(text)).encode())
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting
            finally:
                with model.lock:
                    model.in_flight -= 1

        def _send(self, status: int, payload: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


@pytest.fixture
def script() -> dict[str, list[str]]:
    return SCRIPT


@pytest.fixture
def server(evaluation_release: tuple[ReleaseDir, list[Sample]], script: dict[str, list[str]]) -> Iterator[tuple[str, ScriptedModel]]:
    release, samples = evaluation_release
    prompts = read_prompts(release, "qwen3_vl", [sample.sample_id for sample in samples])
    references = {
        question([{"role": message.role, "content": [{"type": "text", "text": message.text()}]} for message in prompt.messages]): (
            sample_id,
            prompt.reference,
        )
        for sample_id, prompt in prompts.items()
    }
    model = ScriptedModel(references, script)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(model))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", model
    httpd.shutdown()
    httpd.server_close()


def test_answers_retries_timeouts_and_malformed_replies(
    evaluation_release: tuple[ReleaseDir, list[Sample]], server: tuple[str, ScriptedModel]
) -> None:
    release, samples = evaluation_release
    base_url, model = server
    config = ModelBackendConfig.from_connection(
        base_url,
        "sk-test",
        {"generation": "qwen3_vl", "served_model": "tiny", "timeout_s": TIMEOUT_S, "retries": 2, "backoff_s": 0.05, "batch_size": 2},
        "vlm_test",
    )
    scores = {score.sample_id: score for score in score_model_on_samples(release, samples, config)}

    assert scores["ground0000"].value == 1.0 and model.attempts["ground0000"] == 1
    assert scores["ocr0000"].value == 1.0 and model.attempts["ocr0000"] == 2  # HTTP 500, then the answer
    assert scores["vqa0000"].value == 1.0 and model.attempts["vqa0000"] == 2  # timed out once, then answered
    assert (scores["gui0000"].value, scores["gui0000"].error) == (0.0, "no readable answer")  # garbage scores 0
    assert scores["gui0000"].answer == "Sorry, I cannot help with that."
    assert scores["caption0000"].value == 0.0 and scores["caption0000"].error.startswith("malformed response")
    # Stalled every time (a stalled request would still get the right answer after STALL_S, had the client waited):
    # an error after 1 + 2 retries, not a score, and the run went on.
    assert scores["video0000"].value is None and model.attempts["video0000"] == 3
    assert scores["video0000"].error.startswith(f"timeout after {TIMEOUT_S}s") and "after 3 attempts" in scores["video0000"].error

    assert set(model.headers) == {"Bearer sk-test"}
    request = next(body for body in model.requests if question(body["messages"]) == "Where is the white square?")
    assert (request["model"], request["temperature"], request["max_tokens"]) == ("tiny", 0, 256)
    (image_part,) = [part for part in request["messages"][0]["content"] if part["type"] == "image_url"]
    prefix = "data:image/png;base64,"
    assert image_part["image_url"]["url"].startswith(prefix)
    sample = next(sample for sample in samples if sample.sample_id == "ground0000")
    assert base64.b64decode(image_part["image_url"]["url"][len(prefix) :]) == (release.images / sample.images[0].file_name).read_bytes()
    video_request = next(body for body in model.requests if "1.0s and 3.0s" in question(body["messages"]))
    assert [part["type"] for part in video_request["messages"][0]["content"]] == ["video_url", "text"]
    assert video_request["messages"][0]["content"][0]["video_url"]["url"].startswith("data:video/mp4;base64,")

    rows = {(row.subset, row.metric): row for row in aggregate_model_scores(list(scores.values()), config.model_name)}
    assert rows[("task_type=video_event", ANSWERED)].value == 0.0 and rows[("task_type=video_event", "video_event_accuracy")].value is None
    assert rows[("task_type=gui_action", "gui_action_accuracy")].value == 0.0
    assert {row.model for row in rows.values()} == {"tiny"}


@pytest.mark.parametrize("script", [{}])  # every request answered after LATE_S
def test_at_most_batch_size_requests_are_in_flight(
    evaluation_release: tuple[ReleaseDir, list[Sample]], server: tuple[str, ScriptedModel]
) -> None:
    release, samples = evaluation_release
    base_url, model = server
    config = ModelBackendConfig(kind="openai", generation="qwen3_vl", base_url=base_url, served_model="tiny", batch_size=2)
    scores = score_model_on_samples(release, samples, config)
    assert model.most_in_flight == 2 and sum(model.attempts.values()) == len(samples)
    assert all(score.value == 1.0 for score in scores)


def test_an_endpoint_that_is_not_there_is_an_error_per_sample(evaluation_release: tuple[ReleaseDir, list[Sample]]) -> None:
    release, samples = evaluation_release
    config = ModelBackendConfig(
        kind="openai", generation="qwen2_5_vl", base_url="http://127.0.0.1:9/v1", served_model="m", retries=1, backoff_s=0.0
    )
    scores = score_model_on_samples(release, samples[:2], config)
    assert [score.value for score in scores] == [None, None]
    assert all(score.error.startswith("connection error") and "after 2 attempts" in score.error for score in scores)


def test_a_refused_request_is_not_retried(evaluation_release: tuple[ReleaseDir, list[Sample]], tmp_path: Path) -> None:
    release, samples = evaluation_release
    calls: list[str] = []

    class Refusing(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            return

        def do_POST(self) -> None:
            calls.append(self.path)
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(400)
            self.send_header("Content-Length", "14")
            self.end_headers()
            self.wfile.write(b'{"error": "x"}')

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        config = ModelBackendConfig(
            kind="openai", generation="qwen3_vl", base_url=f"http://127.0.0.1:{httpd.server_address[1]}/v1/", served_model="m"
        )
        (score,) = score_model_on_samples(release, samples[:1], config)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert calls == ["/v1/chat/completions"]
    assert score.value is None and score.error == 'HTTP 400: {"error": "x"}'
