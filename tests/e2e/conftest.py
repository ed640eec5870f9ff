"""Browser tests: the app on a real local HTTP server, driven by Debian's Chromium through Playwright."""

import io
import json
import shutil
import threading
from contextlib import contextmanager

import pytest
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from tests.conftest import PASSWORD
from webapp.extensions import db
from webapp.models import SymbolSet
from webapp.services import symbol_upload_checks

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Headless, offline: no background traffic to Google's hosts that this machine cannot reach.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def live_server(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


# Every document reports Content-Security-Policy violations to the test, from before its own scripts run.
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.reportCspViolation(`${event.violatedDirective} blocked ${event.blockedURI || "inline code"}`
    + ` at ${event.sourceFile || document.location.href}:${event.lineNumber}`);
});
"""


@contextmanager
def open_page(browser, live_server, **context_options):
    """A page in a fresh context that fails the test on any JavaScript error or CSP violation."""
    options = {"viewport": {"width": 1280, "height": 900}, **context_options}
    context = browser.new_context(base_url=live_server, **options)
    context.set_default_timeout(10_000)
    errors, violations = [], []
    context.expose_function("reportCspViolation", lambda text: violations.append(text))
    context.add_init_script(REPORT_CSP_VIOLATIONS)
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    # Chromium also logs every violation ("Refused to ... Content Security Policy directive ...").
    page.on(
        "console",
        lambda message: "Content Security Policy" in message.text and violations.append(message.text),
    )
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
    assert not violations, f"Content-Security-Policy violations: {violations}"


@pytest.fixture
def page(browser, live_server):
    with open_page(browser, live_server) as page:
        yield page


def sign_in(page):
    page.goto("/login")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/evaluations/")


def open_menu(page):
    """Open the top bar's menu where the screen is narrow enough to fold it behind the Menu button."""
    toggle = page.get_by_role("button", name="Menu")
    if toggle.is_visible() and toggle.get_attribute("aria-expanded") != "true":
        toggle.click()


def log_out(page):
    open_menu(page)
    page.get_by_role("button", name="Log out").click()


@pytest.fixture
def signed_in_page(page, user_id):
    sign_in(page)
    return page


def accept_next_dialog(page) -> list[str]:
    """Accept the next confirm() and return the list its message will be put in."""
    messages = []

    def answer(dialog):
        messages.append(dialog.message)
        dialog.accept()

    page.once("dialog", answer)
    return messages


GOOD_MAP = {"version": 3, "sources": ["src/app.ts"], "names": [], "mappings": "AAAA,SAAS"}


def uploaded_symbol_set(project, user, ref="chunk-good", release_id=None) -> SymbolSet:
    """A symbol set whose minified file and source map passed the upload check (in an app context)."""
    row = SymbolSet(project_id=project.id, ref=ref, release_id=release_id)
    db.session.add(row)
    db.session.commit()
    symbol_upload_checks.replace_from_files(
        project,
        user,
        row.id,
        io.BytesIO(f"console.log(1)\n//# chunkId={ref}\n".encode()),
        io.BytesIO(json.dumps(GOOD_MAP).encode()),
    )
    return row
