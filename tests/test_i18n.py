"""The UI ships in Simplified Chinese and English (U-4)."""

from pathlib import Path

import pytest
from django.conf import settings
from django.utils import translation

from offboarding.choices import ExitState

PO_FILE = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"


def _entries(po_text: str):
    """(flags, msgid, msgstr) of each live entry of a .po file (obsolete #~ entries skipped)."""
    for block in po_text.split("\n\n"):
        lines = [line for line in block.splitlines() if not line.startswith("#~")]
        flags = " ".join(line for line in lines if line.startswith("#,"))
        msgid, msgstr, current = [], [], None
        for line in lines:
            if line.startswith("msgid "):
                current = msgid
            elif line.startswith("msgstr"):
                current = msgstr
            elif line.startswith("msgid_plural"):
                current = None
            if current is not None and '"' in line:
                current.append(line[line.index('"') + 1 : line.rindex('"')])
        if msgid:
            yield flags, "".join(msgid), "".join(msgstr)


def test_the_chinese_catalogue_is_complete():
    entries = [entry for entry in _entries(PO_FILE.read_text(encoding="utf-8")) if entry[1]]
    assert len(entries) > 300
    assert [msgid for _flags, msgid, msgstr in entries if not msgstr] == []
    assert [msgid for flags, msgid, _msgstr in entries if "fuzzy" in flags] == []


def test_states_read_in_chinese_when_chinese_is_active():
    with translation.override("zh-hans"):
        assert str(ExitState.PENDING_APPROVAL.label) == "待审批"
    with translation.override("en"):
        assert str(ExitState.PENDING_APPROVAL.label) == "Pending approval"


@pytest.mark.django_db
@pytest.mark.parametrize(("language", "text"), [("zh-hans", "登录"), ("en", "Log in")])
def test_the_login_page_follows_the_browsers_language(client, language, text):
    response = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE=language)
    assert text in response.content.decode()
