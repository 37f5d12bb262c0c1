"""Interactive elements of a rendered screen, read from the DOM, each checked visible and not covered.

An element's box is its ``getBoundingClientRect()`` times the device pixel ratio (screenshot
pixels). It is a target only when it lies fully inside the viewport, is displayed, visible and
not transparent, and ``document.elementFromPoint`` at its centre returns the element itself or
one of its descendants (nothing covers it: a dialog's overlay covers the page behind it).
"""

from __future__ import annotations

from dataclasses import dataclass

from vlforge.augment.targets import XYXY
from vlforge.synth.browser import Page

INTERACTIVE = "a[href], button, input, select, textarea, [role=button], [role=switch], [data-target]"

_ELEMENTS_JS = r"""
([selector, scale]) => Array.from(document.querySelectorAll(selector)).map((el) => {
  const r = el.getBoundingClientRect(), s = getComputedStyle(el);
  const hit = document.elementFromPoint((r.left + r.right) / 2, (r.top + r.bottom) / 2);
  const inside = r.width > 0 && r.height > 0 && r.left >= 0 && r.top >= 0 && r.right <= innerWidth && r.bottom <= innerHeight;
  return {
    id: el.id, name: el.dataset.target || el.getAttribute('aria-label') || '', tag: el.tagName.toLowerCase(),
    text: (el.innerText || el.value || el.placeholder || '').trim(),
    box: [r.left * scale, r.top * scale, r.right * scale, r.bottom * scale],
    visible: inside && s.display !== 'none' && s.visibility === 'visible' && parseFloat(s.opacity) > 0,
    uncovered: hit !== null && (hit === el || el.contains(hit)),
    editable: el.tagName === 'TEXTAREA' || (el.tagName === 'INPUT' && !['checkbox', 'radio', 'button', 'submit'].includes(el.type)),
    scrollable: el.hasAttribute('data-scrollable') && el.scrollHeight > el.clientHeight,
  };
})
"""

_HIT_JS = r"""
([x, y, id]) => {
  const el = document.elementFromPoint(x, y), target = document.getElementById(id);
  return {hit: !!el && !!target && (el === target || target.contains(el)), at: el ? (el.id || el.tagName.toLowerCase()) : null};
}
"""


@dataclass(frozen=True)
class Element:
    id: str
    name: str
    tag: str
    text: str
    box: XYXY
    visible: bool
    uncovered: bool
    editable: bool
    scrollable: bool

    @property
    def targetable(self) -> bool:
        return self.visible and self.uncovered and bool(self.id) and bool(self.name)

    @property
    def centre(self) -> tuple[float, float]:
        return ((self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2)


def interactive_elements(page: Page) -> list[Element]:
    """Every interactive element of the page in document order, with its box and visibility checks."""
    rows = page.evaluate(_ELEMENTS_JS, [INTERACTIVE, page.scale])
    return [Element(**{**row, "box": tuple(row["box"])}) for row in rows]


def hit_test(page: Page, point: tuple[float, float], element_id: str) -> tuple[bool, str | None]:
    """Whether the element at screenshot pixel ``point`` is ``element_id`` or inside it, and what is there."""
    found = page.evaluate(_HIT_JS, [point[0] / page.scale, point[1] / page.scale, element_id])
    return bool(found["hit"]), found["at"]
