"""The API reference renders the served schema under the strict policy, offline, and "Try it out" works."""

import json

from playwright.sync_api import expect

from webapp.extensions import db
from webapp.models import Evaluation

from .conftest import open_page, sign_in
from .test_pages_browser import assert_fits_and_is_dark, assert_readable

EVALUATIONS = "/api/environments/{project_id}/evaluations/"


def test_the_reference_renders_and_tries_a_write_as_the_signed_in_user(browser, live_server, app, project_id):
    # A phone in dark mode: the hardest layout for a renderer made for desktops.
    with open_page(browser, live_server, viewport={"width": 390, "height": 844}, color_scheme="dark") as page:
        console_errors, elsewhere = [], []
        page.on("console", lambda message: message.type == "error" and console_errors.append(message.text))
        # Offline: no validator badge, fonts or anything else from another host.
        page.on(
            "request", lambda request: request.url.startswith(live_server) or elsewhere.append(request.url)
        )
        sign_in(page)

        page.goto("/api/docs/")
        expect(page).to_have_title("API reference · Evaluations console")
        create = page.locator(".opblock-post").filter(has=page.locator(f'[data-path="{EVALUATIONS}"]'))
        expect(create).to_be_visible()
        # The schema parsed cleanly: Swagger UI lists no errors of its own.
        expect(page.locator(".swagger-ui .errors-wrapper")).to_have_count(0)
        assert_fits_and_is_dark(page)
        assert_readable(page, ".docs-intro p")

        # Keyboard: the operation opens from its summary button.
        summary = create.locator(".opblock-summary-control")
        summary.focus()
        page.keyboard.press("Enter")
        expect(summary).to_have_attribute("aria-expanded", "true")
        expect(create.locator(".opblock-body")).to_be_visible()
        assert_readable(page, f'.opblock-post [data-path="{EVALUATIONS}"]')
        assert_fits_and_is_dark(page)

        # A write with the session: the CSRF token from the page goes along, so the API accepts it.
        create.get_by_role("button", name="Try it out").click()
        create.locator('tr[data-param-name="project_id"] input').fill(str(project_id))
        body = {"name": "Written from the reference", "prompt": "Is the answer grounded?"}
        create.locator("textarea.body-param__text").fill(json.dumps(body))
        create.get_by_role("button", name="Execute").click()
        expect(create.locator(".live-responses-table tbody .response-col_status")).to_have_text("201")

    with app.app_context():
        created = db.session.execute(db.select(Evaluation.name, Evaluation.project_id)).one()
        db.session.remove()
    assert tuple(created) == ("Written from the reference", project_id)
    assert not console_errors, console_errors
    assert not elsewhere, elsewhere
