"""GUI screens in headless Chromium: boxes equal the DOM's, replayed clicks hit, trajectories reach their state."""

from __future__ import annotations

import numpy as np
import pytest

from vlforge.records import Box
from vlforge.store import ImageStore
from vlforge.synth.browser import PHONE, Browser
from vlforge.synth.gui import ScreenGenerator, open_screen
from vlforge.synth.gui.actions import TASKS, Step, run_steps, screen_samples, single_step, verify_actions
from vlforge.synth.gui.screens import interactive_elements

pytestmark = pytest.mark.slow

TEMPLATES = ["login", "settings", "search", "list", "dialog", "shopping", "chat", "map"]


def test_recorded_boxes_match_the_dom(browser: Browser) -> None:
    params = ScreenGenerator("login", "phone", ("en",), ("light",)).sample(np.random.default_rng(0))
    page = open_screen(browser, params)
    try:
        elements = {element.id: element for element in interactive_elements(page)}
        assert page.screenshot().shape == (2400, 1080, 3)
        # Playwright's own bounding boxes (CSS px), times the device pixel ratio 3
        for element_id in ("username", "password", "sign-in", "forgot"):
            measured = page._page.locator(f"#{element_id}").bounding_box()
            expected = (measured["x"] * 3, measured["y"] * 3, (measured["x"] + measured["width"]) * 3, (measured["y"] + measured["height"]) * 3)
            assert elements[element_id].box == pytest.approx(expected, abs=1e-6)
            assert elements[element_id].targetable
    finally:
        page.close()


def test_dialog_overlay_covers_the_page_behind_it(browser: Browser) -> None:
    params = ScreenGenerator("dialog", "desktop", ("en",), ("dark",)).sample(np.random.default_rng(1))
    page = open_screen(browser, params)
    try:
        elements = {element.id: element for element in interactive_elements(page)}
    finally:
        page.close()
    assert elements["delete"].visible and not elements["delete"].uncovered and not elements["delete"].targetable
    assert elements["confirm"].targetable and elements["cancel"].targetable


@pytest.mark.parametrize("device", ["phone", "desktop"])
def test_every_recorded_action_replays_onto_its_target(browser: Browser, tmp_path, device) -> None:
    store = ImageStore(tmp_path)
    replayed = 0
    for index, template in enumerate(TEMPLATES):
        params = ScreenGenerator(template, device).sample(np.random.default_rng(index))
        result = screen_samples(browser, params, store, index, grounding=1, actions=2, trajectory=False)
        assert result.problems == [], result.problems
        page = open_screen(browser, params)
        try:
            targets = {element.id: element for element in interactive_elements(page) if element.targetable}
        finally:
            page.close()
        for sample in result.samples:
            if sample.task_type == "grounding":
                (box,) = sample.boxes
                assert any((box.x1, box.y1, box.x2, box.y2) == t.box and box.label == t.name for t in targets.values())
                continue
            target_id = next(t.id for t in targets.values() if t.box == (sample.actions[0].box.x1, sample.actions[0].box.y1, sample.actions[0].box.x2, sample.actions[0].box.y2))
            steps = single_step(targets[target_id], params["fields"]["typed"])
            assert verify_actions(browser, params, steps, list(sample.actions)) == []
            replayed += 1
    assert replayed >= len(TEMPLATES)


@pytest.mark.parametrize("task_name", sorted(TASKS))
def test_trajectory_reaches_its_final_state(browser: Browser, task_name: str) -> None:
    task = TASKS[task_name]
    params = ScreenGenerator(task.template, "phone").sample(np.random.default_rng(3))
    steps = task.steps(params["fields"])
    executed = run_steps(browser, params, steps)
    assert [done.step for done in executed] == steps
    assert all(done.pixels.shape == (2400, 1080, 3) for done in executed)
    assert verify_actions(browser, params, steps, [done.action for done in executed]) == []


def test_a_shifted_target_fails_verification(browser: Browser) -> None:
    params = ScreenGenerator("login", "phone", ("en",)).sample(np.random.default_rng(4))
    steps = TASKS["sign_in"].steps(params["fields"])
    actions = [done.action for done in run_steps(browser, params, steps)]
    last = actions[-1]
    assert last.box is not None and last.point is not None
    height = last.box.y2 - last.box.y1
    shifted = last.model_copy(update={
        "box": Box(x1=last.box.x1, y1=last.box.y1 + 2 * height, x2=last.box.x2, y2=last.box.y2 + 2 * height, label=last.box.label),
        "point": (last.point[0], last.point[1] + 2 * height),
    })
    problems = verify_actions(browser, params, steps, [*actions[:-1], shifted])
    assert len(problems) == 1 and "not #sign-in" in problems[0]
    # a step that clicks the right element but expects the wrong state also fails
    wrong_state = [*steps[:-1], Step("click", "sign-in", expect="document.body.dataset.state === 'start'")]
    assert "expected state not reached" in verify_actions(browser, params, wrong_state, actions)[0]


def test_phone_viewport_is_1080_by_2400() -> None:
    assert PHONE.pixel_size == (1080, 2400)
