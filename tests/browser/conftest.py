"""Browser tests: Debian's headless Chromium, driven by Playwright (pytest-playwright's fixtures),
against pytest-django's live server.

Playwright's own browser downloads are never used (`playwright install` is not possible here):
the browser is the system's /usr/bin/chromium (Debian package `chromium`). Each xdist worker
launches one browser for its session; every test gets a fresh context and page.
"""

import os

import pytest
from axe_playwright_python.base import AXE_SCRIPT
from django.db import connections
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Locator, Page, expect, sync_playwright

from tests.conftest import skip_or_fail
from tests.scripts import visible_text_fragments, world_data_strings, world_identifiers

CHROMIUM = "/usr/bin/chromium"

# Without the background-networking flags Chromium keeps trying to reach Google's hosts, which a
# closed network refuses; --no-sandbox because CI runs as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(items):
    # Every test under tests/browser/ is a browser test, whether or not its module says so.
    for item in items:
        if "tests/browser/" in item.nodeid.replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def playwright():
    """pytest-playwright's fixture, plus closing Django's database connections around it.

    Starting Playwright's sync API switches the test thread to another contextvars context, where
    Django's `connections` (an asgiref Local) is empty, and stopping it switches back. A connection
    opened on one side would stay open, unseen, and PostgreSQL would then refuse to drop the test
    database at the end of the run ("being accessed by other users").
    """
    connections.close_all()
    pw = sync_playwright().start()
    yield pw
    connections.close_all()
    pw.stop()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not os.access(CHROMIUM, os.X_OK):
        skip_or_fail(f"{CHROMIUM} is missing (apt-get install chromium)")
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "headless": browser_type_launch_args.get("headless", True),
        "args": CHROMIUM_ARGS,
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    # English UI for stable assertions; the data itself (names of enterprises, members) is Chinese.
    return {
        **browser_context_args,
        "locale": "en-US",
        "timezone_id": "Asia/Shanghai",
        "viewport": {"width": 1280, "height": 900},
    }


# Generous waits: two xdist workers, two browsers and a live server each share two cores.
TIMEOUT_MS = 15_000
expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture
def page(page):
    page.set_default_timeout(TIMEOUT_MS)
    seen = watch_page_language(page)
    yield page
    check_page_language(seen)


# Every page a browser test loads reads in one language (issue 15): its visible text has no text
# of the other script than its <html lang> (tests/scripts.py), the data of the test's database
# (names, reasons: in Chinese here) left aside. The text is taken on each load and checked when
# the test ends, in the test's own thread (where the database is).


TEXT_AND_LANGUAGE = """() => {
  const page = document.documentElement.lang || "en";
  const chinese = (lang) => lang.toLowerCase().startsWith("zh");
  const marked = [...document.querySelectorAll("body [lang]")]
    .filter((element) => chinese(element.lang) !== chinese(page))
    .map((element) => element.innerText).filter(Boolean);
  return [page, document.body ? document.body.innerText : "", marked];
}"""


def watch_page_language(page) -> list[tuple[str, str, str]]:
    seen: list[tuple[str, str, str]] = []

    def taken(loaded):
        try:
            lang, text, own_language = loaded.evaluate(TEXT_AND_LANGUAGE)
        except Exception:  # navigated away or closed meanwhile: the next load is checked
            return
        for marked in own_language:  # e.g. the language switch: each name in its own language
            text = text.replace(marked, " ")
        seen.append((loaded.url, lang, text))

    page.on("load", taken)
    return seen


def check_page_language(seen) -> None:
    if not seen:
        return
    data = sorted(world_data_strings(), key=len, reverse=True)
    allowed = world_identifiers()
    problems = []
    for url, lang, text in seen:
        for value in data:
            text = text.replace(value, " ")
        for fragment in visible_text_fragments(text.split("\n"), lang or "en", allowed=allowed):
            problems.append(f"{url} ({lang}): {fragment}")
    if problems:
        pytest.fail("Text of the other language on a page:\n" + "\n".join(dict.fromkeys(problems)))


# Every page runs under the enforced Content-Security-Policy (S-5): a script, style or image the
# policy blocks fails the test that loaded it. Chromium reports a violation on the console
# ("Refused to apply inline style because it violates the following Content Security Policy
# directive ..."); the page's `securitypolicyviolation` event says the same, in case a message is
# not printed. The init script is Playwright's, so the policy does not block it.
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(
    "Content-Security-Policy violation on " + document.location.href + ": "
    + event.violatedDirective + " blocked " + (event.blockedURI || "inline")
    + " (" + (event.sourceFile || "page") + ":" + event.lineNumber + ")"
  );
});
"""


def _is_csp_violation(text: str) -> bool:
    return "Content Security Policy" in text or "Content-Security-Policy" in text


@pytest.fixture
def new_context(new_context, monkeypatch):
    """pytest-playwright's `new_context` (and so `context` and `page`), every context watched
    for Content-Security-Policy violations and every page it shows checked by axe-core (see
    `AccessibilityCheck`); any violation fails the test at its end."""
    violations: list[str] = []
    contexts = []

    def record(message):
        if _is_csp_violation(message.text):
            violations.append(message.text)

    accessibility = AccessibilityCheck()
    accessibility.install(monkeypatch)

    def watched_context(**kwargs):
        context = new_context(**kwargs)
        context.add_init_script(REPORT_CSP_VIOLATIONS)
        context.on("console", record)
        accessibility.watch(context)
        contexts.append(context)
        return context

    yield watched_context

    for context in contexts:
        for open_page in context.pages:
            try:
                accessibility.check(open_page)  # the page each test ends on
                open_page.evaluate("0")  # a round trip: console messages still on their way arrive
            except Exception:  # a page closed meanwhile has nothing left to report
                pass
    failures = []
    if violations:
        failures.append("Content-Security-Policy violations:\n" + "\n".join(violations))
    if accessibility.violations:
        failures.append(accessibility.report())
    if failures:
        pytest.fail("\n\n".join(failures))


# Accessibility (WCAG 2.1 AA) on every page a browser test visits: axe-core, as shipped inside
# the pinned package axe-playwright-python (axe.min.js with its MPL-2.0 licence header; nothing is
# downloaded at test time). A serious or critical violation fails the test, naming the page, the
# rule, its impact and the elements.
#
# When: a page is checked once per document, before the test's next action on it (a click, a
# fill, a `goto`…: Playwright's action methods are wrapped for the test's duration) and at the
# end of the test. So every page reached by a link, a form post or a redirect is checked, once it
# has loaded, and never half way through a navigation. (Checking from the `load` event instead
# races with the test's next click; checking from a route handler as a navigation leaves hangs,
# since Chromium does not run scripts in a document whose navigation is pending.)
#
# How, under the enforced Content-Security-Policy: `page.evaluate` runs axe's source in the
# page's main world through the DevTools protocol (Runtime.evaluate), which script-src does not
# govern, so the policy stays enforced (no `bypass_csp`) and still reports what the page itself
# loads; axe needs no eval of its own. `preload: false`: otherwise axe re-parses the stylesheets'
# @imports (the admin's forms.css) in <style> elements of its own, which the policy rightly
# refuses; only the orientation-lock rule reads them, and our CSS locks no orientation.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
AXE_FAILING_IMPACTS = {"serious", "critical"}
AXE_RUN = """async (tags) => {
  const results = await axe.run(document, {runOnly: {type: "tag", values: tags},
                                           resultTypes: ["violations"], preload: false});
  return results.violations.map((violation) => ({
    id: violation.id, impact: violation.impact, help: violation.help,
    targets: violation.nodes.map((node) => node.target.join(" ")),
  }));
}"""
# The actions after which a page may show another document, by the class that offers them.
ACTIONS = {
    Page: ("goto", "reload", "go_back", "go_forward", "click", "dblclick", "tap", "fill",
           "press", "type", "check", "uncheck", "set_checked", "select_option", "set_input_files",
           "dispatch_event"),
    Locator: ("click", "dblclick", "tap", "fill", "press", "press_sequentially", "type", "check",
              "uncheck", "set_checked", "select_option", "set_input_files", "dispatch_event",
              "clear"),
}


class AccessibilityCheck:
    """axe-core on every document shown by the pages of the contexts it watches; the
    violations found, deduplicated by page address, rule and elements."""

    def __init__(self):
        self.violations: dict[tuple, dict] = {}
        self.unchecked: set = set()  # pages showing a document not checked yet

    def install(self, monkeypatch):
        for cls, names in ACTIONS.items():
            for name in names:
                monkeypatch.setattr(cls, name, self._checked_first(getattr(cls, name)))

    def _checked_first(self, action):
        def checked_first(target, *args, **kwargs):
            page = target if isinstance(target, Page) else target.page
            if page in self.unchecked:
                self.check(page)
            return action(target, *args, **kwargs)

        return checked_first

    def watch(self, context):
        def watch_page(page):
            def navigated(frame):
                if frame == page.main_frame:
                    self.unchecked.add(page)

            page.on("framenavigated", navigated)

        for page in context.pages:
            watch_page(page)
        context.on("page", watch_page)

    def check(self, page):
        self.unchecked.discard(page)
        if page.is_closed() or not page.url.startswith("http"):
            return  # about:blank before the first navigation
        try:
            page.wait_for_load_state("load")
            url = page.url
            if not page.evaluate("typeof window.axe === 'object'"):
                page.evaluate(AXE_SCRIPT)
            found = page.evaluate(AXE_RUN, AXE_TAGS)
        except PlaywrightError:
            if page.is_closed():
                return
            raise
        for violation in found:
            if violation["impact"] in AXE_FAILING_IMPACTS:
                key = (url.split("?")[0], violation["id"], tuple(violation["targets"]))
                self.violations.setdefault(key, {**violation, "url": url})

    def report(self) -> str:
        lines = ["Accessibility violations (axe-core, WCAG 2.1 AA, serious or critical):"]
        for violation in self.violations.values():
            lines.append(
                f"- {violation['url']}: {violation['id']} ({violation['impact']}): "
                f"{violation['help']}"
            )
            lines.extend(f"    {target}" for target in violation["targets"])
        return "\n".join(lines)


@pytest.fixture
def admin_login(page, live_server):
    """Log in through the real admin login form: `admin_login(username, password)`."""

    def login(username: str, password: str):
        page.goto(f"{live_server.url}/admin/login/?next=/admin/")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.click("input[type=submit]")
        page.wait_for_load_state("domcontentloaded")
        return page

    return login
