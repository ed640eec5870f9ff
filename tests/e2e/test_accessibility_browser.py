"""axe-core over every page, light and dark: no serious or critical accessibility violation."""

import re
from pathlib import Path

from playwright.sync_api import expect

from webapp.errors import RETRY_AFTER_SECONDS
from webapp.extensions import db
from webapp.models.symbol_sets import SymbolSet
from webapp.services import accounts, api_keys, evaluations, releases, symbol_sets

from .conftest import log_out, open_menu, open_page, sign_in, uploaded_symbol_set

# The published axe-core build, vendored with its version in the name (npm `axe-core`, MPL-2.0).
AXE_SOURCE = (Path(__file__).parent / "vendor" / "axe-core-4.14.1.min.js").read_text()
# Not page.add_script_tag: an injected <script> is inline code, which the pages' policy (rightly) blocks and
# the fixture reports. Playwright's evaluate runs outside the page's policy, as a browser extension would.
RUN_AXE = """async () => {
  const results = await axe.run(document, {resultTypes: ["violations"]});
  return results.violations
    .filter((violation) => violation.impact === "serious" || violation.impact === "critical")
    .map((violation) => `${violation.id} (${violation.impact}): ${violation.help}\\n`
      + violation.nodes.map((node) => `    ${node.target.join(" ")}: ${node.failureSummary}`).join("\\n"));
}"""
LONG = "x" * 320


def violations(page) -> list[str]:
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE_SOURCE)
    return page.evaluate(RUN_AXE)


DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
# Every state is checked as each reader may see it: light and dark on a desktop, and dark on a phone (where
# the top bar folds into a menu and lists become cards).
VIEWS = [("light", DESKTOP), ("dark", DESKTOP), ("dark", PHONE)]
# A changed color scheme starts the pages' color transitions (Pico's buttons and links, Swagger UI's theme
# class, which its script toggles when the media query's change event fires at the next frame): axe must see
# the colors they end on, not one on the way, and the layout of the new viewport. So for a few frames every
# transition is finished at once. Each frame is awaited with a bound: waiting on transitions' `finished`
# promises once hung a run for good.
SETTLE = """async () => {
  const frame = () => new Promise((resolve) => {
    requestAnimationFrame(() => resolve());
    setTimeout(resolve, 250);
  });
  for (let round = 0; round < 3; round++) {
    await frame();
    for (const animation of document.getAnimations()) {
      if (animation instanceof CSSTransition) animation.finish();
    }
  }
}"""


def show_as(page, scheme: str, viewport: dict) -> None:
    """Switch the open page to a color scheme and viewport in place, as a reader's browser would."""
    page.emulate_media(color_scheme=scheme)
    page.set_viewport_size(viewport)
    page.evaluate(SETTLE)


def view_name(scheme: str, viewport: dict) -> str:
    return f"{scheme}{' phone' if viewport is PHONE else ''}"


def seed(app, user_id) -> dict:
    """One of each kind of thing a page shows: on, off and archived evaluations, every symbol set status."""
    with app.app_context():
        user = accounts.get_user(user_id)
        project = accounts.resolve_project(user, "@current")
        conditions = [
            {"properties": [{"key": "$ai_model", "value": "gpt-4o", "operator": "exact"}]},
            {"rollout_percentage": 25, "properties": []},
        ]
        on = evaluations.create_evaluation(
            project,
            user,
            {
                "name": "Hallucination " + LONG,
                "prompt": "Judge it.",
                "enabled": True,
                "conditions": conditions,
            },
        )
        evaluations.create_evaluation(
            project, user, {"name": "Tone", "prompt": "Is it polite?", "description": "Politeness " + LONG}
        )
        gone = evaluations.create_evaluation(project, user, {"name": "Old check", "prompt": "Judge."})
        evaluations.set_archived(project, user, gone.id, True)
        failed = symbol_sets.mark_failed(
            project, "chunk-" + LONG, '{"JavaScript":{"NoSourcemap":"' + LONG + '"}}'
        )
        release = releases.create_release(project, {"version": "v" + LONG, "project": "web"})
        good = uploaded_symbol_set(project, user, release_id=release.id)
        db.session.add(SymbolSet(project_id=project.id, ref="chunk-pending"))
        db.session.commit()
        key, _ = api_keys.create_key(user, "deploy-" + "k" * 33, "*", None)
        ids = {
            "project": project.id,
            "evaluation": str(on.id),
            "archived": str(gone.id),
            "failed": str(failed.id),
            "good": str(good.id),
            "key": str(key.id),
        }
        db.session.remove()
    return ids


POST_WITHOUT_JS = """([action, fields]) => {
  const form = document.createElement("form");
  form.method = "post";
  form.action = action;
  fields.push(["csrf_token", document.querySelector("meta[name=csrf-token]").content]);
  for (const [name, value] of fields) {
    const input = document.createElement("input");
    input.type = "hidden";
    input.name = name;
    input.value = value;
    form.append(input);
  }
  document.body.append(form);
  form.submit();
}"""


def post_without_js(page, action, fields):
    """Submit a plain form, as a browser without JavaScript does: the confirmation pages answer it."""
    with page.expect_navigation():
        page.evaluate(POST_WITHOUT_JS, [action, fields])


def test_no_serious_accessibility_violation_on_any_page(browser, live_server, app, user_id):
    """One walk through some forty pages and states; each is checked in every view of VIEWS where it
    stands (switching the scheme and viewport in place costs a third of loading and reaching it again)."""
    ids = seed(app, user_id)
    found = {}

    def check(label, views=VIEWS):
        page.wait_for_load_state()
        for scheme, viewport in views:
            show_as(page, scheme, viewport)
            problems = violations(page)
            if problems:
                found[f"{label} ({view_name(scheme, viewport)}) {page.url}"] = problems
        show_as(page, *VIEWS[0])

    with open_page(browser, live_server, color_scheme=VIEWS[0][0], viewport=VIEWS[0][1]) as page:
        # Some forty pages, each loaded and checked: allow for a busy machine (Swagger UI is slow to load).
        page.set_default_timeout(30_000)
        page.goto("/login")
        check("login")
        page.get_by_label("Email").fill("ada@example.com")
        page.get_by_label("Password").fill("wrong")
        page.get_by_role("button", name="Log in").click()
        check("login error")
        sign_in(page)

        evaluations_url = f"/project/{ids['project']}/evaluations"
        symbols_url = f"/project/{ids['project']}/symbol-sets"
        for label, url, status in [
            ("evaluation list", f"{evaluations_url}/", 200),
            ("no matches, Clear filters", f"{evaluations_url}/?search=no+such+words&enabled=true", 200),
            ("archived list", f"{evaluations_url}/archived", 200),
            ("evaluation detail", f"{evaluations_url}/{ids['evaluation']}", 200),
            ("archived detail", f"{evaluations_url}/{ids['archived']}", 200),
            ("new evaluation", f"{evaluations_url}/new", 200),
            ("edit evaluation", f"{evaluations_url}/{ids['evaluation']}/edit", 200),
            ("symbol set list", f"{symbols_url}/", 200),
            ("failed symbol sets", f"{symbols_url}/?status=failed", 200),
            ("failed symbol set", f"{symbols_url}/{ids['failed']}", 200),
            ("uploaded symbol set", f"{symbols_url}/{ids['good']}", 200),
            ("symbol set summary", f"{symbols_url}/summary", 200),
            ("API keys", "/settings/api-keys", 200),
            ("profile", "/settings/profile", 200),
            ("missing evaluation", f"{evaluations_url}/00000000-0000-0000-0000-000000000000", 404),
            ("missing symbol set", f"{symbols_url}/00000000-0000-0000-0000-000000000000", 404),
            ("missing page", "/no-such-page", 404),
            ("API reference", "/api/docs/", 200),
            ("resolve a stack trace", f"{symbols_url}/resolve", 200),
        ]:
            assert page.goto(url).status == status, url
            if label == "API reference":
                page.locator(".opblock").first.wait_for()
            check(label)

        page.goto(f"{evaluations_url}/")
        page.get_by_role("button", name="Archive Tone").click()
        expect(page.locator("#flash").get_by_role("button", name="Undo")).to_be_focused()
        check("archived in place, Undo")

        page.goto(f"{symbols_url}/resolve")
        page.get_by_label("Stack trace").fill(
            "Error: boom\n    at pay (https://cdn.example/app.js:1:10)\n    at main (https://cdn.example/old.js:3:4)"
        )
        page.get_by_label("Chunk ids").fill('{"https://cdn.example/app.js": "chunk-good"}')
        page.get_by_role("button", name="Resolve").click()
        expect(page.get_by_role("link", name=re.compile("^Fix the symbol set"))).to_be_visible()
        check("resolved stack trace")

        page.goto(f"{evaluations_url}/new")
        page.get_by_role("button", name="Create evaluation").click()
        expect(page.locator("[aria-invalid=true]").first).to_be_visible()
        check("editor errors")

        # Someone else saves while this page edits: the conflict view, theirs next to mine.
        page.goto(f"{evaluations_url}/{ids['evaluation']}/edit")
        with app.app_context():
            project = accounts.resolve_project(accounts.get_user(user_id), "@current")
            evaluations.update_evaluation(project, None, ids["evaluation"], {"prompt": "Their prompt"})
            db.session.remove()
        page.get_by_label("Judge prompt").fill("My prompt")
        page.get_by_role("button", name="Save changes").click()
        expect(page.locator("#conflict")).to_be_focused()
        check("edit conflict")

        page.goto(f"{evaluations_url}/new")
        page.locator(".template-picker a").first.click()
        expect(page.get_by_label("Name")).not_to_be_empty()
        check("new from a template")

        page.goto("/settings/profile")
        page.get_by_role("button", name="Change password").click()
        expect(page.locator("[aria-invalid=true]").first).to_be_visible()
        check("password errors")
        page.goto("/settings/api-keys")
        page.get_by_label("Label").fill("fresh key")
        page.get_by_role("checkbox", name=re.compile("All access")).check()
        page.get_by_role("button", name="Create key").click()
        expect(page.get_by_role("button", name="Copy")).to_be_visible()
        check("new key shown once")

        page.goto("/settings/members")
        check("members")
        page.get_by_label(re.compile("^Email addresses")).fill("bob@example.com")
        page.get_by_role("button", name="Create invite links").click()
        invite_link = page.locator("input[data-copy-source]").first.input_value()
        check("invite links shown once")
        page.get_by_role("button", name="Leave the organization").click()
        expect(page.locator("main h1")).to_be_visible()
        check("confirm leaving")
        for label, url in [
            ("projects", "/settings/projects"),
            ("confirm project delete", f"/settings/projects/{ids['project']}/delete"),
            ("invite", invite_link),
            ("unusable invite", "/invite/not-a-token"),
        ]:
            page.goto(url)
            expect(page.locator("main h1")).to_be_visible()
            check(label)
        page.goto("/settings/members")
        page.get_by_label(re.compile("^Email addresses")).fill("not an address")
        page.get_by_role("button", name="Create invite links").click()
        expect(page.locator("#error-summary")).to_be_focused()
        check("invite errors")
        page.goto("/settings/projects")
        page.get_by_role("button", name="Create project").click()
        expect(page.locator("#error-summary")).to_be_focused()
        check("new project errors")

        page.goto(f"{evaluations_url}/")
        post_without_js(page, f"{evaluations_url}/bulk", [["action", "archive"], ["ids", ids["evaluation"]]])
        expect(page.get_by_role("heading", name="Archive 1 evaluation?")).to_be_visible()
        check("confirm bulk archive")
        page.goto(f"{symbols_url}/")
        post_without_js(page, f"{symbols_url}/{ids['failed']}/delete", [])
        expect(page.get_by_role("button", name="Delete")).to_be_visible()
        check("confirm symbol set delete")
        page.goto("/settings/api-keys")
        post_without_js(page, f"/settings/api-keys/{ids['key']}/delete", [])
        expect(page.get_by_role("button", name="Delete")).to_be_visible()
        check("confirm key delete")

        with app.test_request_context():
            outage = app.jinja_env.get_template("errors/unavailable.html").render(
                retry_after=RETRY_AFTER_SECONDS
            )
        page.route(
            "**/outage", lambda route: route.fulfill(status=503, body=outage, content_type="text/html")
        )
        page.goto("/outage")
        expect(page.get_by_role("heading", name="Unavailable for a moment")).to_be_visible()
        check("unavailable")
        page.unroute("**/outage")

        # The top bar's menu, opened where it folds: on the phone (on a desktop it is the list checked above).
        page.goto(f"{evaluations_url}/")
        show_as(page, *VIEWS[2])
        open_menu(page)
        check("menu", views=VIEWS[2:])
        log_out(page)
        check("logged out")
        page.goto(invite_link)
        page.get_by_role("button", name="Create account and join").click()
        expect(page.locator("#error-summary")).to_be_focused()
        check("new account errors")

    assert not found, "\n".join(f"{where}:\n  " + "\n  ".join(problems) for where, problems in found.items())
