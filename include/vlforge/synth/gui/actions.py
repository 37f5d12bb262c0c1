"""Grounding, action and trajectory samples of a screen, each action executed in Chromium to verify it.

A step is verified in the page it was recorded on: for a click or swipe, the element at the
action's point must be the target (``screens.hit_test``); for typing, the target must hold the
keyboard focus. The step is then performed with real mouse and keyboard events and its
expectation (a JavaScript expression over the DOM, e.g. ``document.body.dataset.state ===
'signed-in'``) must hold afterwards. An action moved off its element fails verification.

Swipes follow the ``mobile_use`` convention (``export/mobile_use.py``): the text is the finger's
direction and the box the scrolled region; swiping ``up`` scrolls the content down, done here with
a mouse wheel of 60% of the region's height.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from vlforge.records import Box, GuiAction, Sample, Turn
from vlforge.store import ImageStore
from vlforge.synth.browser import Browser, Page
from vlforge.synth.gui import ScreenGenerator, open_screen
from vlforge.synth.gui.fill import LABELS
from vlforge.synth.gui.screens import Element, hit_test, interactive_elements
from vlforge.synth.samples import lineage_entry, store_png, synthetic_id, synthetic_source

StepKind = Literal["click", "type", "swipe"]
SWIPE_SHARE = 0.6

INSTRUCTIONS = {
    "en": {"click": "Tap the {name}.", "type": 'Type "{text}" into the {name}.', "swipe": "Scroll down the {name}.",
           "where": "Where is the {name}?", "history": "Previous actions:"},
    "zh": {"click": "点击{name}。", "type": "在{name}中输入“{text}”。", "swipe": "向下滚动{name}。",
           "where": "{name}在哪里？", "history": "之前的操作："},
}


class StepFailed(RuntimeError):
    """An action missed its element or did not reach the expected state; the message says which and where."""


@dataclass(frozen=True)
class Step:
    kind: StepKind
    target: str
    text: str = ""
    expect: str = ""


@dataclass(frozen=True)
class Task:
    """A multi-step task on one template: its instruction and steps, both from the screen's fields."""

    template: str
    instruction: Callable[[dict[str, Any], str], str]
    steps: Callable[[dict[str, Any]], list[Step]]


def _state(name: str) -> str:
    return f"document.body.dataset.state === {json.dumps(name)}"


def _typed(element_id: str, text: str) -> list[Step]:
    focused = f"document.activeElement.id === {json.dumps(element_id)}"
    value = f"document.getElementById({json.dumps(element_id)}).value === {json.dumps(text)}"
    return [Step("click", element_id, expect=focused), Step("type", element_id, text, expect=value)]


def _switch_label(fields: dict[str, Any], language: str) -> str:
    key, on = fields["switches"][0]
    verb = ("Turn off" if on else "Turn on") if language == "en" else ("关闭" if on else "打开")
    return f"{verb} {LABELS[language][key]}" if language == "en" else f"{verb}{LABELS[language][key]}"


TASKS: dict[str, Task] = {
    "sign_in": Task(
        "login",
        lambda f, lang: f"Sign in as {f['user']}." if lang == "en" else f"以 {f['user']} 的身份登录。",
        lambda f: [*_typed("username", f["user"]), *_typed("password", f["password"]),
                   Step("click", "sign-in", expect=_state("signed-in"))],
    ),
    "search_then_open": Task(
        "search",
        lambda f, lang: f"Search for {f['query']} and open the first result." if lang == "en"
        else f"搜索“{f['query']}”并打开第一个结果。",
        lambda f: [*_typed("query", f["query"]), Step("click", "search-button", expect=_state("results")),
                   Step("click", "result-0", expect=_state("detail-0"))],
    ),
    "add_to_cart": Task(
        "shopping",
        lambda f, lang: f"Add {f['products'][0][0]} to the cart and open the cart." if lang == "en"
        else f"把{f['products'][0][0]}加入购物车并打开购物车。",
        lambda f: [Step("click", "add-0", expect="document.getElementById('count').textContent === '1'"),
                   Step("click", "cart", expect=_state("cart"))],
    ),
    "change_setting": Task(
        "settings",
        _switch_label,
        lambda f: [Step("click", f["switches"][0][0],
                        expect=f"document.getElementById({json.dumps(f['switches'][0][0])}).getAttribute('aria-checked') === "
                        f"{json.dumps('false' if f['switches'][0][1] else 'true')}")],
    ),
}
TASK_BY_TEMPLATE = {task.template: name for name, task in TASKS.items()}


def find_target(page: Page, element_id: str) -> Element:
    """The targetable element ``element_id`` (visible, uncovered), or ``StepFailed`` saying why not."""
    for element in interactive_elements(page):
        if element.id == element_id:
            if not element.targetable:
                raise StepFailed(f"element #{element_id} is not a target (visible={element.visible}, uncovered={element.uncovered})")
            return element
    raise StepFailed(f"no interactive element #{element_id} on the screen")


def action_for(page: Page, step: Step) -> GuiAction:
    """The action that performs ``step``: the element's box (labelled with its name), its centre, its text."""
    element = find_target(page, step.target)
    box = Box(x1=element.box[0], y1=element.box[1], x2=element.box[2], y2=element.box[3], label=element.name)
    text = step.text if step.kind != "click" else element.text or element.name
    return GuiAction(type="swipe" if step.kind == "swipe" else step.kind, box=box, point=element.centre, text=text)


def execute(page: Page, step: Step, action: GuiAction) -> None:
    """Verify that ``action`` lands on ``step``'s element, perform it, check the expected state.

    Raises:
        StepFailed: naming the target, the point and what was found there, or the unmet expectation.
    """
    if action.point is None:
        raise StepFailed(f"{step.kind} on #{step.target} has no point")
    if step.kind == "type":
        focused = page.evaluate("document.activeElement ? document.activeElement.id : ''")
        if focused != step.target:
            raise StepFailed(f"type into #{step.target}: the keyboard focus is on #{focused or 'nothing'}")
    hit, found = hit_test(page, action.point, step.target)
    if not hit:
        raise StepFailed(f"{step.kind} at {tuple(round(v, 1) for v in action.point)} hits {found!r}, not #{step.target}")
    if step.kind == "click":
        page.click(*action.point)
    elif step.kind == "type":
        page.type(action.text)
    else:
        assert action.box is not None
        page.wheel(action.point[0], action.point[1], SWIPE_SHARE * (action.box.y2 - action.box.y1) / page.scale)
    if step.expect and not page.evaluate(step.expect):
        raise StepFailed(f"{step.kind} on #{step.target}: expected state not reached ({step.expect})")


@dataclass(frozen=True)
class ExecutedStep:
    pixels: np.ndarray
    step: Step
    action: GuiAction


def run_steps(browser: Browser, params: dict[str, Any], steps: list[Step], actions: list[GuiAction] | None = None) -> list[ExecutedStep]:
    """Open the screen and execute ``steps`` in order, with recorded ``actions`` or ones read from the DOM.

    Returns:
        Each step with the screenshot taken before it and the action performed.

    Raises:
        StepFailed: at the first step that misses or does not reach its state.
    """
    page = open_screen(browser, params)
    try:
        done = []
        for index, step in enumerate(steps):
            pixels = page.screenshot()
            action = actions[index] if actions is not None else action_for(page, step)
            execute(page, step, action)
            done.append(ExecutedStep(pixels, step, action))
        return done
    finally:
        page.close()


def verify_actions(browser: Browser, params: dict[str, Any], steps: list[Step], actions: list[GuiAction]) -> list[str]:
    """Replay recorded actions on a fresh screen: empty when every one hits and reaches its state."""
    try:
        run_steps(browser, params, steps, actions)
    except StepFailed as failure:
        return [str(failure)]
    return []


def single_step(element: Element, typed: str) -> list[Step]:
    """The action a lone target gets: type into a text field, swipe a scrollable region, else click."""
    if element.editable:
        return _typed(element.id, typed)
    if element.scrollable:
        return [Step("swipe", element.id, "up", expect=f"document.getElementById({json.dumps(element.id)}).scrollTop > 0")]
    return [Step("click", element.id)]


def distinct_picks(picks: list[float], targets: int, wanted: int) -> list[int]:
    """Distinct target indices ``int(pick * targets)`` in pick order, at most ``wanted``.

    The first ones go to grounding samples, the rest to action samples, so a screen with few targets
    gets fewer samples rather than the same one twice.
    """
    chosen: list[int] = []
    for pick in picks:
        index = int(pick * targets)
        if index not in chosen:
            chosen.append(index)
    return chosen[:wanted]


def _instruction(language: str, step: Step, action: GuiAction) -> str:
    name = action.box.label if action.box else step.target
    return INSTRUCTIONS[language][step.kind].format(name=name, text=action.text)


@dataclass(frozen=True)
class ScreenResult:
    samples: list[Sample]
    problems: list[str]
    targets: int


def screen_samples(
    browser: Browser,
    params: dict[str, Any],
    store: ImageStore,
    seed: int,
    grounding: int,
    actions: int,
    trajectory: bool,
) -> ScreenResult:
    """All samples of one screen: ``grounding`` grounding questions, ``actions`` verified actions, and the
    template's trajectory (when it has one and ``trajectory`` is set), every action executed in the browser.

    Targets are chosen by ``params["picks"]`` (numbers in ``[0, 1)`` drawn with the screen), so the
    same params give the same samples. A failed step is a problem (a quarantine reason), not a sample.
    """
    language, template = params["language"], params["template"]
    page = open_screen(browser, params)
    try:
        pixels = page.screenshot()
        targets = [element for element in interactive_elements(page) if element.targetable]
    finally:
        page.close()
    if not targets:
        return ScreenResult([], [f"{template}: no visible, uncovered interactive element"], 0)
    image = store_png(store, pixels)
    chosen = distinct_picks(params["picks"], len(targets), grounding + actions)
    screen = lineage_entry(ScreenGenerator.name, params, seed)
    counts = {"grounding": grounding, "actions": actions}  # a replay needs them to pick the same targets
    samples: list[Sample] = []
    problems: list[str] = []
    for index, pick in enumerate(chosen[:grounding]):
        element = targets[pick]
        source = synthetic_source("gui", template, seed, f"grounding/{index}")
        box = Box(x1=element.box[0], y1=element.box[1], x2=element.box[2], y2=element.box[3], label=element.name)
        samples.append(Sample(
            sample_id=synthetic_id(source), task_type="grounding", images=(image,),
            conversations=(Turn(role="user", content=INSTRUCTIONS[language]["where"].format(name=element.name)),),
            boxes=(box,), source=source, item_id=synthetic_id(source), synthetic=True,
            lineage=(screen, lineage_entry("synth.gui.grounding", {"index": index, "target": element.id, **counts})),
        ))
    for index, pick in enumerate(chosen[grounding:]):
        element = targets[pick]
        steps = single_step(element, params["fields"]["typed"])
        try:
            executed = run_steps(browser, params, steps)
        except StepFailed as failure:
            problems.append(f"{template} action {index}: {failure}")
            continue
        source = synthetic_source("gui", template, seed, f"action/{index}")
        done = tuple(step.action for step in executed)
        samples.append(Sample(
            sample_id=synthetic_id(source), task_type="gui_action", images=(image,),
            conversations=(Turn(role="user", content=_instruction(language, steps[-1], done[-1])),),
            actions=done, source=source, item_id=synthetic_id(source), synthetic=True,
            lineage=(screen, lineage_entry("synth.gui.action", {"index": index, "target": element.id, **counts})),
        ))
    task_name = TASK_BY_TEMPLATE.get(template)
    if trajectory and task_name:
        samples += _trajectory(browser, params, store, seed, task_name, screen, problems)
    return ScreenResult(samples, problems, len(targets))


def _trajectory(browser: Browser, params: dict[str, Any], store: ImageStore, seed: int, task_name: str,
                screen: Any, problems: list[str]) -> list[Sample]:
    task, language = TASKS[task_name], params["language"]
    instruction = task.instruction(params["fields"], language)
    try:
        executed = run_steps(browser, params, task.steps(params["fields"]))
    except StepFailed as failure:
        problems.append(f"{params['template']} trajectory {task_name}: {failure}")
        return []
    trajectory_id = synthetic_id(synthetic_source("gui", params["template"], seed, f"trajectory/{task_name}"))
    samples, history = [], []
    for index, done in enumerate(executed):
        source = synthetic_source("gui", params["template"], seed, f"trajectory/{task_name}/{index}")
        prompt = instruction if not history else "\n".join([instruction, INSTRUCTIONS[language]["history"], *history])
        samples.append(Sample(
            sample_id=synthetic_id(source), task_type="gui_action", images=(store_png(store, done.pixels),),
            conversations=(Turn(role="user", content=prompt),), actions=(done.action,), source=source,
            item_id=trajectory_id, synthetic=True,
            lineage=(screen, lineage_entry("synth.gui.trajectory", {"task": task_name, "step": index})),
        ))
        history.append(f"{index + 1}. {_instruction(language, done.step, done.action)}")
    return samples
