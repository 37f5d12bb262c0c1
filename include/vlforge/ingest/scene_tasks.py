"""Generated scenes in a Label Studio export: released once a reviewer accepted them, marked synthetic.

A task that ``vlforge.synth.scenes`` wrote for a generated image carries the scene in
``data.vlforge_scene``: ``{"generator", "prompt", "seed", "params"}``. Label Studio keeps custom
data keys in its export, so the lineage travels with the task through review. A scene is
accepted when a reviewer marked one of its annotations ground truth; without one it is
quarantined unless the recipe sets ``scenes.allow_unreviewed``, and then its annotations, or
if it has none its machine predictions, are released.
"""

from __future__ import annotations

import json
from typing import Any

from vlforge.media import RecordError
from vlforge.records import LineageOp

SCENE_KEY = "vlforge_scene"
SCENE_OP = "scene"
SCENE_FIELDS = ("generator", "prompt", "seed", "params")


def scene_lineage(task: Any) -> LineageOp | None:
    """The lineage entry of a generated-scene task; ``None`` for any other task.

    Raises:
        RecordError: when ``data.vlforge_scene`` is there but is not a scene's lineage.
    """
    data = task.get("data") if isinstance(task, dict) else None
    if not isinstance(data, dict) or SCENE_KEY not in data:
        return None
    scene = data[SCENE_KEY]
    missing = [name for name in SCENE_FIELDS if not isinstance(scene, dict) or name not in scene]
    if missing or not isinstance(scene["seed"], int) or not isinstance(scene["params"], dict):
        raise RecordError(
            f"generated scene's lineage must be an object with {', '.join(SCENE_FIELDS)} (an integer seed, a params object)"
            + (f"; missing: {', '.join(missing)}" if missing else ""),
            f"data.{SCENE_KEY}",
            scene,
        )
    return LineageOp(op=SCENE_OP, params_json=json.dumps(scene, sort_keys=True, ensure_ascii=False), seed=scene["seed"])


def scene_rounds(task: dict[str, Any], annotations: list[dict[str, Any]], allow_unreviewed: bool) -> list[dict[str, Any]]:
    """The rounds of a generated-scene task to release.

    Args:
        task: the exported task.
        annotations: its annotations that were not cancelled.
        allow_unreviewed: the recipe's ``scenes.allow_unreviewed``.

    Returns:
        Every annotation when one is ground truth (the reviewer accepted the scene). Unreviewed
        scenes when allowed: the annotations, else the task's predictions (the machine labels),
        each named after its model as the annotator.

    Raises:
        RecordError: when no reviewer accepted the scene and unreviewed scenes are not allowed,
            or there is nothing to release.
    """
    if any(annotation.get("ground_truth") for annotation in annotations):
        return annotations
    if not allow_unreviewed:
        raise RecordError(
            "generated scene was not accepted by a reviewer (no annotation is marked ground truth) "
            "and the recipe does not allow unreviewed scenes (scenes.allow_unreviewed: false)",
            "annotations",
            f"{len(annotations)} annotation(s), none ground truth",
        )
    if annotations:
        return annotations
    predictions = task.get("predictions") or []
    if not isinstance(predictions, list) or not predictions or not all(isinstance(item, dict) for item in predictions):
        raise RecordError(
            "unreviewed generated scene has no annotation and no prediction with results to release "
            "(a Label Studio export lists predictions by id: ingest the scenes review file itself)",
            "predictions",
            predictions,
        )
    return [
        prediction | {"id": f"prediction {number}", "completed_by": str(prediction.get("model_version", "")), "ground_truth": False}
        for number, prediction in enumerate(predictions, start=1)
    ]
