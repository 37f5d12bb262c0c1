"""The demo dataset: real photographs from scikit-image's wheel and vlforge's own Label Studio export of them.

The export (``include/demo/label_studio_export.json``) was annotated for vlforge:
captions, boxes, one OCR page, two annotation rounds on four images (the rocket's rounds
disagree, so it goes to review), one cancelled annotation, and one task whose image was
removed from storage (it is quarantined, to show that nothing is lost).
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

EXPORT = Path(__file__).resolve().parent.parent / "demo" / "label_studio_export.json"
# A second project's export: two more captions of the cat and one of the coffee, by other annotators.
# With it the demo's folder has samples of one image to compose into multi-turn and multi-task conversations.
EXTRA_CAPTIONS = EXPORT.with_name("label_studio_captions.json")
DEMO_IMAGES = ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "camera.png", "page.png")


def prepare_demo(target: Path) -> Path:
    """Copy the demo images and both exports into ``target`` (idempotent).

    ``target`` itself, a folder of two Label Studio exports, is the whole demo (``make demo``); the
    main export alone is the smaller dataset that most tests release.

    Returns:
        The path of the main Label Studio export.
    """
    images = target / "skimage"
    images.mkdir(parents=True, exist_ok=True)
    package_data = resources.files("skimage") / "data"
    for name in DEMO_IMAGES:
        destination = images / name
        if not destination.exists():
            with resources.as_file(package_data / name) as source:
                shutil.copyfile(source, destination)
    shutil.copyfile(EXTRA_CAPTIONS, target / EXTRA_CAPTIONS.name)
    export = target / EXPORT.name
    shutil.copyfile(EXPORT, export)
    return export
