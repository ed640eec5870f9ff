"""The evaluation editor in Chromium: unsaved changes, two tabs, the conditions editor and the focus."""

import re

from playwright.sync_api import expect

from webapp.extensions import db
from webapp.services import accounts, evaluations, organizations, projects

from .conftest import open_page, sign_in
from .test_accessibility_browser import violations


def seed(app, user_id, name="Politeness", **fields) -> str:
    with app.app_context():
        user = accounts.get_user(user_id)
        project = accounts.resolve_project(user, "@current")
        evaluation = evaluations.create_evaluation(
            project, user, {"name": name, "prompt": "Judge it.", **fields}
        )
        db.session.remove()
    return f"/project/{project.id}/evaluations/{evaluation.id}"


def answer_dialogs(page, accept: bool) -> list[tuple[str, str]]:
    """Answer every dialog (confirm, beforeunload) the same way; return (type, message) of each."""
    seen = []

    def answer(dialog):
        seen.append((dialog.type, dialog.message))
        dialog.accept() if accept else dialog.dismiss()

    page.on("dialog", answer)
    return seen


def marker(page):
    return page.locator("[data-unsaved-marker]")


def test_unsaved_changes_show_a_marker_and_leaving_asks_first(signed_in_page, app, user_id):
    page = signed_in_page
    detail = seed(app, user_id)
    page.goto(detail + "/edit")
    expect(marker(page)).to_be_hidden()
    page.get_by_label("Name").fill("Politeness v2")
    expect(marker(page)).to_have_text("Unsaved changes")

    # A link: asked first; "stay" keeps the page and the text.
    dialogs = answer_dialogs(page, accept=False)
    page.get_by_role("link", name="Evaluations").first.click()
    expect(page.get_by_label("Name")).to_have_value("Politeness v2")
    assert dialogs and dialogs[0][0] == "confirm" and "unsaved changes" in dialogs[0][1]
    assert page.url.endswith("/edit")

    # Reloading: the browser's own "leave the page?" dialog, and staying keeps the text.
    page.evaluate("setTimeout(() => location.reload(), 0)")
    expect.poll(lambda: [kind for kind, _ in dialogs]).to_contain("beforeunload") if hasattr(
        expect, "poll"
    ) else None
    page.wait_for_timeout(500)
    assert "beforeunload" in [kind for kind, _ in dialogs]
    expect(page.get_by_label("Name")).to_have_value("Politeness v2")

    # An editor button keeps the changes unsaved (the marker stays), asking nothing.
    page.get_by_role("button", name="Add condition set").click()
    expect(page.get_by_label("Rollout %")).to_be_focused()
    expect(marker(page)).to_be_visible()

    # Cancel is the explicit way out: no question, and the edit is gone.
    count = len(dialogs)
    page.get_by_role("link", name="Cancel").click()
    page.wait_for_url(re.compile(re.escape(detail) + "$"))
    assert len(dialogs) == count
    expect(page.get_by_role("heading", level=1)).to_have_text("Politeness")

    # Saving asks nothing either, and the page after it has no marker.
    page.goto(detail + "/edit")
    page.get_by_label("Name").fill("Politeness v3")
    page.get_by_role("button", name="Save changes").click()
    page.wait_for_url(re.compile(re.escape(detail) + "$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Politeness v3")
    assert len(dialogs) == count


def test_leaving_by_a_link_after_saying_yes_asks_only_once(signed_in_page, app, user_id):
    page = signed_in_page
    detail = seed(app, user_id)
    page.goto(detail + "/edit")
    page.get_by_label("Judge prompt").fill("Is it polite?")
    dialogs = answer_dialogs(page, accept=True)
    page.get_by_role("link", name="Evaluations").first.click()
    page.wait_for_url("**/evaluations/")
    assert [kind for kind, _ in dialogs] == ["confirm"]


def open_two_tabs(page, detail):
    page.goto(detail + "/edit")
    other = page.context.new_page()
    other.goto(detail + "/edit")
    return other


def test_two_tabs_keep_mine_saves_over_theirs(signed_in_page, app, user_id):
    page = signed_in_page
    detail = seed(app, user_id, description="First")
    theirs = open_two_tabs(page, detail)
    theirs.get_by_label("Name").fill("Their name")
    theirs.get_by_role("button", name="Save changes").click()
    theirs.wait_for_url(re.compile(re.escape(detail) + "$"))
    theirs.close()

    page.get_by_label("Description").fill("My description")
    page.get_by_role("button", name="Save changes").click()
    conflict = page.locator("#conflict")
    expect(conflict).to_be_focused()
    expect(conflict).to_contain_text("Someone else saved this evaluation")
    expect(conflict.locator(".conflict-field h3")).to_have_text(["Name", "Description"])
    expect(conflict.locator(".conflict-value")).to_have_text(
        ["Their name", "Politeness", "First", "My description"]
    )
    expect(page.locator(".error-summary")).to_have_count(0)
    expect(page.get_by_text("problem")).to_have_count(0)
    expect(page.get_by_label("Description")).to_have_value("My description")
    expect(marker(page)).to_be_visible()
    assert violations(page) == []

    page.get_by_role("button", name="Keep my changes").click()
    page.wait_for_url(re.compile(re.escape(detail) + "$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Politeness")
    expect(page.locator("main")).to_contain_text("My description")


def test_two_tabs_take_theirs_loads_their_version(signed_in_page, app, user_id):
    page = signed_in_page
    detail = seed(app, user_id)
    theirs = open_two_tabs(page, detail)
    theirs.get_by_label("Judge prompt").fill("Their prompt")
    theirs.get_by_role("button", name="Save changes").click()
    theirs.wait_for_url(re.compile(re.escape(detail) + "$"))
    theirs.close()

    page.get_by_label("Judge prompt").fill("My prompt")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#conflict .conflict-value")).to_have_text(["Their prompt", "My prompt"])
    dialogs = answer_dialogs(page, accept=False)
    page.get_by_role("button", name="Take their version").click()
    expect(page.locator("#conflict")).to_have_count(0)
    expect(page.get_by_label("Judge prompt")).to_have_value("Their prompt")
    expect(marker(page)).to_be_hidden()
    assert dialogs == []
    # Their version is now the one being edited: saving works at once.
    page.get_by_label("Name").fill("Politeness, theirs")
    page.get_by_role("button", name="Save changes").click()
    page.wait_for_url(re.compile(re.escape(detail) + "$"))
    expect(page.locator("main")).to_contain_text("Their prompt")


def test_new_page_conditions_editor_and_error_summary_move_the_focus(signed_in_page):
    page = signed_in_page
    page.get_by_role("link", name="New evaluation").click()
    expect(page.get_by_label("Name")).to_be_focused()
    page.get_by_label("Name").fill("Latency judge")

    page.get_by_role("button", name="Add condition set").click()
    expect(page.get_by_label("Rollout %")).to_be_focused()
    # A fresh set has no property row, only the button to add one.
    expect(page.locator(".property-row")).to_have_count(0)
    # Each button's accessible name starts with its visible text (the rest is for screen readers only).
    expect(page.get_by_role("button", name="Add property to condition set 1")).to_have_text(
        re.compile(r"^Add property\b")
    )
    expect(page.get_by_role("button", name="Remove set 1")).to_have_text(re.compile(r"^Remove set\b"))

    page.get_by_role("button", name="Add property").click()
    expect(page.locator("#conditions-0-properties-0-type")).to_be_focused()
    page.get_by_label("Property", exact=True).fill("$ai_latency")
    page.get_by_label("Operator").select_option("gte")
    page.get_by_label("Value").fill("fast")
    page.get_by_label("Rollout %").fill("0")
    page.get_by_role("button", name="Create evaluation").click()

    summary = page.locator("#error-summary")
    expect(summary).to_be_focused()
    expect(summary.get_by_role("link")).to_have_text(
        [
            re.compile(r"^Judge prompt: "),
            re.compile(r"^Condition set 1, rollout %: .*between 0.1% and 100%"),
            re.compile(r"^Condition set 1, property 1, value: .*compares numbers"),
        ]
    )
    assert violations(page) == []
    summary.get_by_role("link", name=re.compile("property 1, value")).click()
    expect(page.get_by_label("Value")).to_be_focused()

    page.get_by_label("Value").fill("2.5")
    page.get_by_label("Rollout %").fill("50")
    page.get_by_label("Judge prompt").fill("Was the reply fast enough to be useful?")
    page.get_by_role("button", name="Create evaluation").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Latency judge")
    expect(page.locator("#flash")).to_contain_text("It starts disabled")
    expect(page.locator(".condition-list")).to_contain_text("50% of generations")


def test_removing_rows_moves_the_focus_to_the_add_buttons(signed_in_page):
    page = signed_in_page
    page.get_by_role("link", name="New evaluation").click()
    page.get_by_role("button", name="Add condition set").click()
    page.get_by_role("button", name="Add property").click()
    page.get_by_role("button", name="Remove property 1 of condition set 1").click()
    expect(page.get_by_role("button", name="Add property to condition set 1")).to_be_focused()
    page.get_by_role("button", name="Remove set 1").click()
    expect(page.get_by_role("button", name="Add condition set")).to_be_focused()


def test_a_template_fills_the_form_and_focuses_name(signed_in_page):
    page = signed_in_page
    page.get_by_role("link", name="New evaluation").click()
    page.get_by_role("link", name="Prompt injection").click()
    expect(page.get_by_label("Name")).to_have_value("Prompt injection")
    expect(page.get_by_label("Name")).to_be_focused()
    expect(page.get_by_label("Rollout %")).to_have_value("50")
    expect(page.get_by_label("Judge prompt")).to_have_value(re.compile("system prompt"))
    page.get_by_role("button", name="Create evaluation").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Prompt injection")
    expect(page.locator("#flash")).to_contain_text("It starts disabled")


CONTRAST = """(element) => {
  const rgb = (text) => text.match(/[0-9.]+/g).slice(0, 3).map(Number);
  const luminance = ([r, g, b]) => {
    const linear = (v) => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
  };
  let node = element, background = "rgba(0, 0, 0, 0)";
  while (node && /rgba\\(.*, 0\\)$/.test(background)) {
    background = getComputedStyle(node).backgroundColor;
    node = node.parentElement;
  }
  const [a, b] = [luminance(rgb(getComputedStyle(element).color)), luminance(rgb(background))];
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""


def test_the_or_label_is_readable_in_light_and_dark_mode(browser, live_server, user_id):
    for scheme in ("light", "dark"):
        with open_page(browser, live_server, color_scheme=scheme) as page:
            sign_in(page)
            page.get_by_role("link", name="New evaluation").click()
            for count in (1, 2):
                page.get_by_role("button", name="Add condition set").click()
                expect(page.locator(".condition-set")).to_have_count(count)
            label = page.locator("#set-1-title small")
            expect(label).to_have_text("(OR)")
            assert label.evaluate(CONTRAST) >= 4.5, scheme


# How much of a select's chosen option is cut off (pixels; 0 when the whole text shows beside the arrow).
CUT_OFF = """(select) => {
  const style = getComputedStyle(select);
  const context = document.createElement("canvas").getContext("2d");
  context.font = style.font;
  const text = context.measureText(select.options[select.selectedIndex].text).width;
  const padding = parseFloat(style.paddingLeft) + parseFloat(style.paddingRight);
  return Math.max(0, text + padding - select.clientWidth);
}"""


def test_the_editor_fits_a_390_px_screen_with_its_selects_whole(browser, live_server, user_id):
    with open_page(browser, live_server, viewport={"width": 390, "height": 844}) as page:
        sign_in(page)
        page.goto(page.url + "new?template=pii-leakage")
        # The longest words each select offers.
        page.locator("#conditions-0-properties-0-type").select_option("person")
        page.locator("#conditions-0-properties-0-operator").select_option("not_regex")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        for select in page.locator(".property-row select").all():
            box = select.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box
            assert select.evaluate(CUT_OFF) == 0, select.evaluate("s => s.id")


def test_staying_after_the_project_switcher_asked_keeps_the_project_shown(signed_in_page, app, user_id):
    page = signed_in_page
    detail = seed(app, user_id)
    with app.app_context():
        user = accounts.get_user(user_id)
        projects.create_project(organizations.current(user), "Staging")
        db.session.remove()
    page.goto(detail + "/edit")
    switcher = page.get_by_label("Project")
    shown = switcher.input_value()
    page.get_by_label("Name").fill("Politeness v2")

    dialogs = answer_dialogs(page, accept=False)
    staging = switcher.locator("option", has_text="Staging").get_attribute("value")
    switcher.select_option(staging)
    assert [kind for kind, _ in dialogs] == ["confirm"]
    # Still here, with the text, and the switcher names the project the page is in.
    assert page.url.endswith("/edit")
    expect(page.get_by_label("Name")).to_have_value("Politeness v2")
    expect(switcher).to_have_value(shown)
