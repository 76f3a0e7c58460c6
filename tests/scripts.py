"""Text of the other script in a page's interface: what an English page shows in Chinese, or a
Chinese page in English (issue 15, "both languages everywhere").

`foreign_fragments(html, language, allowed=...)` returns the offending fragments of one HTML page:

- in English (`en`): any run of CJK characters;
- in Chinese (`zh-hans`): any English word — a run of two or more Latin letters that is not an
  identifier (an e-mail address, an address, a code with digits, underscores, dots or slashes
  inside), not a product or protocol name of `PRODUCT_WORDS`, and not one of `allowed` (the
  world's own identifiers: usernames, employee numbers, enterprise codes, …).

What is looked at is what a person reads or hears: the text of the page (not its scripts and
styles) and the attributes shown or announced (`title`, `alt`, `placeholder`, `aria-label`, a
button's `value`). An element that declares its own `lang` (the language switcher's names, each in
its own language) is skipped with everything inside it.

Data is not the interface: a test that uses this builds its world in the page's script (Latin names
for the English walk, Chinese names for the Chinese one), so any fragment found is interface text.
`visible_text_fragments` is the same check for text a browser already extracted (the browser tests
pass `document.body.innerText`).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

# Names that are the same in both languages: the product, the IM platforms, standards and formats.
PRODUCT_WORDS = frozenset(
    {
        "Exitdesk",
        "WeCom",
        "DingTalk",
        "Feishu",
        "Lark",
        "CRM",
        "GBK",
        "MB",
        "KB",
        "YYYY",
        "MM",
        "DD",
        "HK",
        "JP",
        "LDAP",
        "AMQP",
        "Control",
        "Command",
        "Mac",
        "csv",
        "xlsx",
        "CSV",
        "XLSX",
        "JSON",
        "API",
        "OIDC",
        "OpenID",
        "Connect",
        "TOTP",
        "HR",
        "IT",
        "ID",
        "IP",
        "URL",
        "UTC",
        "GMT",
        "SHA",
        "AES",
        "GCM",
        "PIPL",
        "GDPR",
        "AB",
        "Celery",
        "Django",
        "OTP",
        "PDF",
        "HTTP",
        "HTTPS",
        "SSO",
        "OK",
        "Asia",
        "Shanghai",
        "Europe",
        "America",
        "Pacific",
        "Africa",
        "Australia",
        "Atlantic",
        "Indian",
        "Etc",
        "CN",
        "EU",
        "US",
        "SG",
    }
)

CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]+")
# A word: Latin letters, possibly joined by an apostrophe or a hyphen. What surrounds it decides
# whether it is an identifier (see _is_identifier).
_TOKEN = re.compile(r"[^\s,;()\[\]{}<>\"'“”‘’，。；：（）【】、！？!?]+")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_ADDRESS = re.compile(r"^(?:[a-z]+://|/|www\.)", re.IGNORECASE)

_SKIPPED_ELEMENTS = frozenset({"script", "style", "noscript", "template", "code", "kbd", "samp"})
_VOID_ELEMENTS = frozenset(
    {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "source",
        "track",
        "wbr",
    }
)
_SHOWN_ATTRIBUTES = ("title", "alt", "placeholder", "aria-label")


def is_chinese(language: str) -> bool:
    return language.lower().startswith("zh")


class _VisibleText(HTMLParser):
    """The page's text and shown attributes, with the elements of another `lang` left out."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.page_language = ""
        self.fragments: list[str] = []
        self._stack: list[tuple[str, bool]] = []  # (tag, skipped)

    @property
    def _skipping(self) -> bool:
        return any(skipped for _tag, skipped in self._stack)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "html":
            self.page_language = attributes.get("lang") or ""
            return
        own_language = attributes.get("lang")
        skipped = tag in _SKIPPED_ELEMENTS or (
            own_language is not None
            and self.page_language
            and is_chinese(own_language) != is_chinese(self.page_language)
        )
        if tag in _VOID_ELEMENTS:
            if not (skipped or self._skipping):
                self._attributes(tag, attributes)
            return
        self._stack.append((tag, skipped))
        if not self._skipping:
            self._attributes(tag, attributes)

    def handle_startendtag(self, tag, attrs):
        if tag in _VOID_ELEMENTS:
            self.handle_starttag(tag, attrs)
        elif not self._skipping:
            self._attributes(tag, dict(attrs))

    def handle_endtag(self, tag):
        for index in range(len(self._stack) - 1, -1, -1):
            if self._stack[index][0] == tag:
                del self._stack[index:]
                return

    def handle_data(self, data):
        if not self._skipping and data.strip():
            self.fragments.append(data)

    def _attributes(self, tag, attributes):
        for name in _SHOWN_ATTRIBUTES:
            if attributes.get(name):
                self.fragments.append(attributes[name])
        if tag == "input" and attributes.get("type") in ("submit", "button", "reset"):
            if attributes.get("value"):
                self.fragments.append(attributes["value"])


def page_language(html: str) -> str:
    parser = _VisibleText()
    parser.feed(html)
    return parser.page_language


def foreign_fragments(html: str, language: str | None = None, *, allowed=()) -> list[str]:
    """The fragments of `html`'s interface in the other script than `language` (by default the
    page's own `<html lang>`), each with a little of its context."""
    parser = _VisibleText()
    parser.feed(html)
    parser.close()
    language = language or parser.page_language or "en"
    return visible_text_fragments(parser.fragments, language, allowed=allowed)


def visible_text_fragments(texts, language: str, *, allowed=()) -> list[str]:
    """The same check over text already extracted (a string or a list of strings)."""
    if isinstance(texts, str):
        texts = [texts]
    allowed = {word.lower() for word in allowed}
    found: list[str] = []
    for text in texts:
        text = " ".join(text.split())
        if text.lower() in allowed:  # a whole identifier (a time zone's name, a code)
            continue
        if is_chinese(language):
            offending = _english_words(text, allowed)
        else:
            offending = [match.group() for match in CJK.finditer(text)]
        if offending:
            shown = text if len(text) <= 120 else text[:117] + "…"
            found.append(f"{shown!r} ({', '.join(dict.fromkeys(offending))})")
    unique = []
    for fragment in found:
        if fragment not in unique:
            unique.append(fragment)
    return unique


def _english_words(text: str, allowed: set[str]) -> list[str]:
    words = []
    for token in _TOKEN.findall(text):
        if token.lower() in allowed or _is_identifier(token):
            continue
        for word in _LATIN_WORD.findall(token):
            if word in PRODUCT_WORDS or word.lower() in allowed:
                continue
            words.append(word)
    return words


def _is_identifier(token: str) -> bool:
    """An e-mail address, an address, a snake_case code (a column's name), or letters with digits
    (an employee number, a version): not a word of the language."""
    stripped = token.strip(".-…")
    if _EMAIL.match(stripped) or _ADDRESS.match(stripped):
        return True
    if re.fullmatch(r"[a-z]+(?:_[a-z0-9]+)+", stripped):
        return True
    if any(char.isdigit() for char in stripped) and _LATIN_WORD.search(stripped):
        return not CJK.search(stripped)
    return False


# ---------------------------------------------------------------------------------------------
# The data of a test's database, to tell it from the interface (needs the database)

IDENTIFIER_FIELDS = frozenset(
    {"username", "email", "employee_number", "code", "external_id", "provider", "key_id"}
)
DATA_APPS = ("directory", "offboarding", "compliance")


def world_identifiers() -> set[str]:
    """Every identifier the database holds (usernames, e-mail addresses, employee numbers,
    codes), and its parts: allowed on a Chinese page."""
    from django.apps import apps
    from django.db import models

    found = set()
    for model in apps.get_models():
        names = [
            field.name
            for field in model._meta.concrete_fields
            if field.name in IDENTIFIER_FIELDS and isinstance(field, models.CharField)
        ]
        for name in names:
            for value in model._default_manager.values_list(name, flat=True):
                if value:
                    found.add(value)
                    found.update(value.replace("@", " ").replace(".", " ").split())
    return found


def world_data_strings() -> set[str]:
    """Every text the project's own tables hold (names, reasons, notes…): data, not interface."""
    from django.apps import apps
    from django.db import models

    found = set()
    for app in DATA_APPS:
        for model in apps.get_app_config(app).get_models():
            if model.__name__.startswith("Historical"):
                continue
            names = [
                field.name
                for field in model._meta.concrete_fields
                if isinstance(field, (models.CharField, models.TextField))
                and not getattr(field, "choices", None)
            ]
            for name in names:
                for value in model._default_manager.values_list(name, flat=True).iterator():
                    if value and len(value) < 500:
                        found.add(value)
    return found
