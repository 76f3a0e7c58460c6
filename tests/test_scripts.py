"""tests/scripts.py: what it calls text of the other script, and what it lets pass."""

from tests.scripts import foreign_fragments, visible_text_fragments


def page(lang: str, body: str) -> str:
    return f'<!DOCTYPE html><html lang="{lang}"><body>{body}</body></html>'


def test_an_english_page_with_chinese_interface_text_is_caught():
    found = foreign_fragments(page("en", "<p>Hand over resources (离职继承)</p>"))
    assert found == ["'Hand over resources (离职继承)' (离职继承)"]


def test_a_chinese_page_with_an_english_word_is_caught_in_text_and_in_alt_text():
    found = foreign_fragments(page("zh-hans", '<p>移交资源</p><img src="a.svg" alt="True">'))
    assert found == ["'True' (True)"]


def test_identifiers_products_code_and_other_languages_marked_as_such_pass():
    body = (
        "<p>企业代码 acme-1，工号 E000123，邮箱 zhang@example.com，列 employee_number</p>"
        "<p>导出 CSV，同步到 WeCom 与 DingTalk</p><code>python manage.py verify_audit</code>"
        '<form><button lang="en">English</button></form><script>var x = "Search";</script>'
    )
    assert foreign_fragments(page("zh-hans", body)) == []


def test_allowed_words_pass_and_whole_identifiers_too():
    assert visible_text_fragments(["张三 employee"], "zh-hans", allowed={"employee"}) == []
    assert visible_text_fragments(["Asia/Shanghai"], "zh-hans") == []
    assert visible_text_fragments(["America/Buenos Aires"], "zh-hans") != []
    assert (
        visible_text_fragments(
            ["America/Buenos Aires"], "zh-hans", allowed={"America/Buenos Aires"}
        )
        == []
    )
