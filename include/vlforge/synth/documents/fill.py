"""Template fields drawn from Faker (``en_US`` / ``zh_CN``) and small built-in vocabularies.

``draw_fields`` is the only place randomness happens: a Faker instance seeded from the ``rng``
passed in. The fields it returns are plain JSON and are written to the sample's lineage, so a
replay renders the recorded fields and does not depend on Faker's version.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from vlforge.augment.ops.base import draw_seed
from vlforge.synth.config import LANGUAGES

LOCALES = {"en": "en_US", "zh": "zh_CN"}
CURRENCY = {"en": "${:,.2f}", "zh": "¥{:,.2f}"}
FONTS = {
    "en": ("'DejaVu Sans'", "'DejaVu Serif'"),
    # Noto Serif CJK pages read back at 73-95% with chi_sim (sans: 95-100%), failing the read-back check.
    "zh": ("'Noto Sans CJK SC'",),
}

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "tel": "Tel", "date": "Date", "receipt_no": "No.", "subtotal": "Subtotal", "tax": "Tax", "total": "Total",
        "thanks": "Thank you for shopping with us", "invoice": "INVOICE", "invoice_no": "Invoice No.",
        "bill_to": "Bill to", "description": "Description", "quantity": "Qty", "unit_price": "Unit price",
        "amount": "Amount", "form_title": "Membership Application", "form_hint": "Please check every field.",
        "signature": "Signed by",
    },
    "zh": {
        "tel": "电话", "date": "日期", "receipt_no": "单号", "subtotal": "小计", "tax": "税额", "total": "合计",
        "thanks": "谢谢惠顾，欢迎再次光临", "invoice": "发票", "invoice_no": "发票号码", "bill_to": "购买方",
        "description": "项目", "quantity": "数量", "unit_price": "单价", "amount": "金额",
        "form_title": "会员申请表", "form_hint": "请核对每一项信息。", "signature": "申请人签名",
    },
}
ITEMS = {
    "en": ("Coffee", "Green tea", "Bagel", "Orange juice", "Sandwich", "Notebook", "Pencils", "Batteries",
           "Shampoo", "Apples", "Rice", "Olive oil", "Paper towels", "Yogurt", "Cheese", "Bread"),
    "zh": ("咖啡", "绿茶", "面包", "橙汁", "三明治", "笔记本", "铅笔", "电池", "洗发水", "苹果", "大米", "橄榄油",
           "纸巾", "酸奶", "牛奶", "饺子"),
}
SIGNS = {
    "en": ("NO PARKING", "EMERGENCY EXIT", "CAUTION WET FLOOR", "STAFF ONLY", "KEEP DOOR CLOSED", "PLATFORM 3"),
    "zh": ("禁止停车", "安全出口", "小心地滑", "员工通道", "随手关门", "三号站台"),
}
FORM_LABELS = {
    "en": ("Full name", "Date of birth", "Phone", "Email", "Address", "Company", "Job title"),
    "zh": ("姓名", "出生日期", "电话", "邮箱", "地址", "公司", "职位"),
}
TABLE_HEADERS = {"en": ("Name", "City", "Date", "Amount"), "zh": ("姓名", "城市", "日期", "金额")}
TABLE_TITLES = {"en": "Quarterly payments", "zh": "季度付款明细"}
# Paper and ink pairs, light enough for the read-back check on the clean page.
PALETTES = (
    {"paper": "#ffffff", "ink": "#111111", "muted": "#555555", "accent": "#b00020"},
    {"paper": "#fbf8ef", "ink": "#1d1d1d", "muted": "#5d5a52", "accent": "#1a5fb4"},
    {"paper": "#f4f7fb", "ink": "#0d1b2a", "muted": "#4a5563", "accent": "#2e7d32"},
)


@dataclass(frozen=True)
class Vocabulary:
    """A page's language and the item names its receipts, invoices and shops draw from."""

    language: str
    items: tuple[str, ...]

    @classmethod
    def of(cls, language: str, items: tuple[str, ...] | None = None) -> Vocabulary:
        """The language's built-in items unless the recipe gives its own."""
        return cls(language, tuple(items) if items else ITEMS[language])


def _one_line(text: str) -> str:
    return " ".join(text.replace("\n", ", ").split())


def _items(fake: Any, words: Vocabulary, count: int) -> tuple[list[dict[str, Any]], float]:
    money = CURRENCY[words.language]
    items, total = [], 0.0
    for name in fake.random.sample(words.items, count):
        quantity = fake.random.randint(1, 4)
        price = fake.random.randint(100, 4000) / 100
        total += quantity * price
        items.append({"name": name, "quantity": quantity, "price": money.format(price), "amount": money.format(quantity * price)})
    return items, total


def _receipt(fake: Any, words: Vocabulary) -> dict[str, Any]:
    items, subtotal = _items(fake, words, fake.random.randint(3, 6))
    money, tax = CURRENCY[words.language], round(subtotal * 0.08, 2)
    return {
        "store": fake.company(), "address": _one_line(fake.address()), "phone": fake.phone_number(),
        "date": fake.date(), "number": fake.bothify("####-####"), "items": items,
        "subtotal": money.format(subtotal), "tax": money.format(tax), "total": money.format(subtotal + tax),
    }


def _invoice(fake: Any, words: Vocabulary) -> dict[str, Any]:
    items, total = _items(fake, words, fake.random.randint(2, 5))
    return {
        "number": fake.bothify("INV-#####"), "seller": fake.company(), "seller_address": _one_line(fake.address()),
        "buyer": fake.company(), "buyer_address": _one_line(fake.address()), "date": fake.date(),
        "items": items, "total": CURRENCY[words.language].format(total),
    }


def _form(fake: Any, words: Vocabulary) -> dict[str, Any]:
    name = fake.name()
    values = (name, fake.date_of_birth().isoformat(), fake.phone_number(), fake.email(), _one_line(fake.address()),
              fake.company(), fake.job())
    return {"name": name, "fields": [list(pair) for pair in zip(FORM_LABELS[words.language], values, strict=True)]}


def _table(fake: Any, words: Vocabulary) -> dict[str, Any]:
    money = CURRENCY[words.language]
    rows = [[fake.name(), fake.city(), fake.date(), money.format(fake.random.randint(1000, 900000) / 100)]
            for _ in range(fake.random.randint(4, 8))]
    return {"title": TABLE_TITLES[words.language], "header": list(TABLE_HEADERS[words.language]), "rows": rows,
            "note": fake.sentence(nb_words=8)}


def _article(fake: Any, words: Vocabulary) -> dict[str, Any]:
    return {
        "headline": fake.sentence(nb_words=6).rstrip("."),
        "byline": f"{fake.name()} {fake.date()}",
        "paragraphs": [fake.paragraph(nb_sentences=4) for _ in range(fake.random.randint(3, 5))],
    }


def _sign(fake: Any, words: Vocabulary) -> dict[str, Any]:
    return {
        "title": fake.random.choice(SIGNS[words.language]), "subtitle": fake.company(),
        "detail": _one_line(fake.address()), "code": fake.bothify("??-####").upper(),
    }


TEMPLATES: dict[str, Callable[[Any, Vocabulary], dict[str, Any]]] = {
    "receipt": _receipt,
    "invoice": _invoice,
    "form": _form,
    "table": _table,
    "article": _article,
    "sign": _sign,
}


def seeded_faker(language: str, rng: np.random.Generator) -> Any:
    """A Faker of the language's locale, seeded from ``rng`` (the only randomness of a generator)."""
    from faker import Faker

    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}; known languages: {', '.join(LANGUAGES)}")
    fake = Faker(LOCALES[language])
    fake.seed_instance(draw_seed(rng))
    return fake


def draw_fields(template: str, language: str, rng: np.random.Generator, items: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The JSON-able parameters of one page: its fields, palette, font and font size.

    Args:
        template: one of ``TEMPLATES``.
        language: ``en`` or ``zh``.
        rng: the only source of randomness.
        items: the recipe's item names for this language (default: the built-in ones).

    Returns:
        ``{"fields": ..., "style": ...}``.
    """
    if template not in TEMPLATES:
        raise ValueError(f"unknown document template {template!r}; known templates: {', '.join(TEMPLATES)}")
    fake = seeded_faker(language, rng)
    style = dict(PALETTES[int(rng.integers(0, len(PALETTES)))])
    style["font_family"] = FONTS[language][int(rng.integers(0, len(FONTS[language])))]
    style["font_size"] = int(rng.integers(17, 21))
    return {"fields": TEMPLATES[template](fake, Vocabulary.of(language, items)), "style": style}
