"""GUI screen labels (English and Simplified Chinese) and fields drawn from Faker with a seeded generator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from vlforge.synth.documents.fill import CURRENCY, Vocabulary, seeded_faker

FONTS = {"en": "'DejaVu Sans'", "zh": "'Noto Sans CJK SC'"}
SWITCHES = ("wifi", "bluetooth", "notifications", "location", "dark_mode")

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "welcome": "Sign in to continue", "username": "Username", "password": "Password", "remember": "Remember me",
        "sign_in": "Sign in", "forgot": "Forgot password?", "username_field": "username field",
        "password_field": "password field", "remember_box": "remember me checkbox", "sign_in_button": "sign in button",
        "forgot_link": "forgot password link", "settings": "Settings", "back": "Back", "back_button": "back button",
        "switch": "switch", "wifi": "Wi-Fi", "bluetooth": "Bluetooth", "notifications": "Notifications",
        "location": "Location", "dark_mode": "Dark mode", "search": "Search", "search_box": "search box",
        "search_button": "search button", "search_hint": "Search articles", "result": "search result",
        "contacts": "Contacts", "add_button": "add contact button", "contact_list": "contact list", "call": "Call",
        "share": "Share", "share_button": "share button", "delete": "Delete", "delete_button": "delete button",
        "confirm_title": "Delete this file?", "cancel": "Cancel", "cancel_button": "cancel button",
        "confirm": "Delete", "confirm_button": "confirm delete button", "cart": "Cart", "cart_button": "cart button",
        "add": "Add to cart", "add_to_cart": "add to cart button for", "message_box": "message box",
        "message_hint": "Type a message", "send": "Send", "send_button": "send button", "place_box": "place search box",
        "place_hint": "Search places", "directions": "Directions", "directions_button": "directions button",
        "pin": "map pin", "zoom_in_button": "zoom in button", "zoom_out_button": "zoom out button",
        "locate_button": "my location button",
    },
    "zh": {
        "welcome": "登录后继续", "username": "用户名", "password": "密码", "remember": "记住我", "sign_in": "登录",
        "forgot": "忘记密码？", "username_field": "用户名输入框", "password_field": "密码输入框",
        "remember_box": "记住我复选框", "sign_in_button": "登录按钮", "forgot_link": "忘记密码链接",
        "settings": "设置", "back": "返回", "back_button": "返回按钮", "switch": "开关", "wifi": "无线网络",
        "bluetooth": "蓝牙", "notifications": "通知", "location": "定位", "dark_mode": "深色模式", "search": "搜索",
        "search_box": "搜索框", "search_button": "搜索按钮", "search_hint": "搜索文章", "result": "搜索结果",
        "contacts": "联系人", "add_button": "添加联系人按钮", "contact_list": "联系人列表", "call": "呼叫",
        "share": "分享", "share_button": "分享按钮", "delete": "删除", "delete_button": "删除按钮",
        "confirm_title": "删除这个文件？", "cancel": "取消", "cancel_button": "取消按钮", "confirm": "删除",
        "confirm_button": "确认删除按钮", "cart": "购物车", "cart_button": "购物车按钮", "add": "加入购物车",
        "add_to_cart": "加入购物车按钮", "message_box": "消息输入框", "message_hint": "输入消息", "send": "发送",
        "send_button": "发送按钮", "place_box": "地点搜索框", "place_hint": "搜索地点", "directions": "路线",
        "directions_button": "路线按钮", "pin": "地图标记", "zoom_in_button": "放大按钮", "zoom_out_button": "缩小按钮",
        "locate_button": "我的位置按钮",
    },
}


def _login(fake: Any, words: Vocabulary) -> dict[str, Any]:
    return {"app": fake.company(), "user": fake.user_name(), "password": fake.password(length=10, special_chars=False)}


def _settings(fake: Any, words: Vocabulary) -> dict[str, Any]:
    return {"switches": [[key, fake.random.random() < 0.5] for key in SWITCHES], "account": fake.email()}


def _search(fake: Any, words: Vocabulary) -> dict[str, Any]:
    return {"app": fake.company(), "query": fake.word(), "results": [fake.sentence(nb_words=5).rstrip(".") for _ in range(4)]}


def _list(fake: Any, words: Vocabulary) -> dict[str, Any]:
    return {"contacts": [[fake.name(), fake.phone_number()] for _ in range(14)]}


def _dialog(fake: Any, words: Vocabulary) -> dict[str, Any]:
    return {"file": fake.file_name(category="office"), "owner": fake.name(), "size": f"{fake.random.randint(12, 900)} KB"}


def _shopping(fake: Any, words: Vocabulary) -> dict[str, Any]:
    names = fake.random.sample(words.items, 4)
    return {"store": fake.company(), "products": [[name, CURRENCY[words.language].format(fake.random.randint(100, 9000) / 100)] for name in names]}


def _chat(fake: Any, words: Vocabulary) -> dict[str, Any]:
    messages = [[index % 2 == 1, fake.sentence(nb_words=6)] for index in range(4)]
    return {"contact": fake.name(), "messages": messages, "reply": fake.sentence(nb_words=4)}


def _map(fake: Any, words: Vocabulary) -> dict[str, Any]:
    pins = [[fake.street_name(), 8 + 26 * index, 12 + fake.random.randint(0, 60)] for index in range(3)]
    return {"pins": pins, "place": fake.city()}


TEMPLATES: dict[str, Callable[[Any, Vocabulary], dict[str, Any]]] = {
    "login": _login,
    "settings": _settings,
    "search": _search,
    "list": _list,
    "dialog": _dialog,
    "shopping": _shopping,
    "chat": _chat,
    "map": _map,
}


def draw_screen_fields(template: str, language: str, rng: np.random.Generator, items: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The JSON-able fields of one screen (names, products, messages) from Faker seeded by ``rng``.

    ``items``: the recipe's product names for this language (default: the built-in ones).
    """
    if template not in TEMPLATES:
        raise ValueError(f"unknown GUI template {template!r}; known templates: {', '.join(TEMPLATES)}")
    fake = seeded_faker(language, rng)
    # "typed": what a type action writes into a text field of this screen.
    return {**TEMPLATES[template](fake, Vocabulary.of(language, items)), "typed": fake.word()}
