"""In Chromium: a file-store outage during an htmx upload is announced, and nothing changes."""

from playwright.sync_api import expect

from webapp.services import accounts, symbol_sets
from webapp.storage.local import LocalStorage

from ..conftest import installed_storage


def test_a_store_outage_during_an_upload_is_announced_and_changes_nothing(
    signed_in_page, app, user_id, tmp_path
):
    page = signed_in_page
    with app.app_context():
        project = accounts.resolve_project(accounts.get_user(user_id), "@current")
        symbol_sets.mark_failed(project, "chunk-broken", "The source map is missing.")
        project_id = project.id
    broken = tmp_path / "objects"
    broken.write_bytes(b"")  # a file where the storage folder should be: nothing can be written
    page.goto(f"/project/{project_id}/symbol-sets/?search=chunk-broken")
    page.get_by_role("link", name="chunk-broken").click()

    with installed_storage(app, LocalStorage(broken, secret_key=app.config["SECRET_KEY"])):
        page.get_by_label("Minified file").set_input_files(
            {
                "name": "app.min.js",
                "mimeType": "text/javascript",
                "buffer": b"a()\n//# chunkId=chunk-broken\n",
            }
        )
        page.get_by_label("Source map").set_input_files(
            {
                "name": "app.min.js.map",
                "mimeType": "application/json",
                "buffer": b'{"version": 3, "sources": [], "names": [], "mappings": ""}',
            }
        )
        with page.expect_response(lambda response: "/replace" in response.url) as answer:
            page.get_by_role("button", name="Upload and check").click()
        assert answer.value.status == 503 and answer.value.headers["retry-after"]
        expect(page.locator("#flash")).to_have_text(
            "The server cannot reach its database or file storage for a moment. "
            "Nothing was changed; try again in a few seconds."
        )
    expect(page.locator("#symbol-set .badge")).to_have_text("Failed")
    expect(page.locator("form[data-upload] progress")).to_be_hidden()
