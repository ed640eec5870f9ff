"""End to end: a TypeScript app built by esbuild, uploaded as the CLI does, thrown in Chromium, resolved back.

The bundle runs on a page Playwright serves as https://shop.example (nothing leaves the machine); its
error.stack goes to the symbolicate endpoint, then to the "Resolve a stack trace" page.
"""

import json

import pytest
from playwright.sync_api import expect

from ..bundles import build, inject
from ..test_api_symbol_sets import ErrorTracking

SHOP = "https://shop.example"
CHECKOUT_TS = """interface Order {
  id: number;
  total: number;
}

export function checkoutTotal(order: Order): number {
  if (order.total < 0) {
    throw new Error(`Order ${order.id} has a negative total`);
  }
  return order.total;
}

(window as any).checkout = (total: number) => checkoutTotal({ id: 7, total });
"""
# A second script, never uploaded: its frames name a chunk no set has.
WIDGET_TS = """export function onBuyClicked(total: number): number {
  return (window as any).checkout(total) * 2;
}

(window as any).buy = (total: number) => onBuyClicked(total);
"""
# What posthog-js does with the CLI's snippets: the first URL in each filed stack is that script's.
CHUNK_ID_MAP_JS = """() => {
  const map = {};
  for (const [stack, chunkId] of Object.entries(window._posthogChunkIds || {})) {
    const match = stack.match(/(https?:\\/\\/[^\\s()]+?):\\d+:\\d+/);
    if (match) map[match[1]] = chunkId;
  }
  return map;
}"""


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shop")
    checkout = inject(*build(folder, "checkout", CHECKOUT_TS), "0f7c1a2b-checkout")
    widget = inject(*build(folder, "widget", WIDGET_TS), "9e8d7c6b-widget")
    return checkout, widget


def serve_shop(page, checkout, widget):
    files = {
        "/": (
            "text/html",
            b'<!doctype html><title>Shop</title><script src="/assets/checkout.min.js"></script>'
            b'<script src="/assets/widget.min.js"></script>',
        ),
        "/assets/checkout.min.js": ("text/javascript", checkout.source),
        "/assets/widget.min.js": ("text/javascript", widget.source),
    }

    def answer(route):
        path = route.request.url.removeprefix(SHOP)
        content_type, body = files.get(path, ("text/plain", b""))
        route.fulfill(status=200 if path in files else 404, content_type=content_type, body=body)

    page.route(f"{SHOP}/**", answer)


def test_a_chromium_stack_resolves_to_the_typescript_source(
    signed_in_page, app, client, auth, project_id, bundles
):
    checkout, widget = bundles
    et = ErrorTracking(client, auth, project_id)
    uploaded = et.upload_set(checkout.chunk_id, checkout.blob())  # bulk_start_upload, presigned POST, finish
    assert uploaded["status"] == "uploaded"

    page = signed_in_page
    serve_shop(page, checkout, widget)
    page.goto(f"{SHOP}/")
    stack = page.evaluate("() => { try { window.buy(-1); } catch (error) { return error.stack; } }")
    chunk_ids = page.evaluate(CHUNK_ID_MAP_JS)
    assert chunk_ids == {
        f"{SHOP}/assets/checkout.min.js": checkout.chunk_id,
        f"{SHOP}/assets/widget.min.js": widget.chunk_id,
    }
    assert stack.startswith("Error: Order 7 has a negative total\n    at ")

    response = client.post(
        f"/api/environments/{project_id}/error_tracking/symbolicate/",
        headers=auth,
        json={"stack": stack, "chunk_ids": chunk_ids},
    )
    assert response.status_code == 200, response.get_json()
    frames = response.get_json()["frames"]
    top = frames[0]
    assert top["resolved"], top
    assert (top["source"], top["line"], top["function"]) == ("../src/checkout.ts", 8, "checkoutTotal")
    assert "throw new Error(`Order ${order.id} has a negative total`);" in top["context"]["line"]
    assert top["symbol_set_id"] == uploaded["id"]
    widget_frames = [frame for frame in frames if frame["raw"]["chunk_id"] == widget.chunk_id]
    assert widget_frames and not any(frame["resolved"] for frame in widget_frames)

    # The unknown chunk is now a failed set in the review list.
    page.goto(f"/project/{project_id}/symbol-sets/?status=failed")
    failed_row = page.locator("#results tbody tr", has_text=widget.chunk_id)
    expect(failed_row).to_have_count(1)

    # The browser page resolves the same stack, from the list's link.
    page.goto(f"/project/{project_id}/symbol-sets/")
    page.get_by_role("link", name="Resolve a stack trace").click()
    page.get_by_label("Stack trace").fill(stack)
    page.get_by_label("Chunk ids").fill(json.dumps(chunk_ids))
    page.get_by_role("button", name="Resolve").click()
    heading = page.locator("#frames-heading")
    expect(heading).to_contain_text(f"of {len(frames)} frames resolved")
    expect(heading).to_be_focused()
    first = page.locator("ol.frames > li").first
    expect(first.locator(".frame-location")).to_contain_text("../src/checkout.ts:8:")
    expect(first.locator(".frame-location")).to_contain_text("in checkoutTotal")
    expect(first.locator("mark")).to_contain_text(
        "throw new Error(`Order ${order.id} has a negative total`);"
    )
    unresolved = page.locator("li.frame-unresolved").first
    expect(unresolved).to_contain_text(f"No symbol set was uploaded for chunk {widget.chunk_id}")
    unresolved.get_by_role("link", name=f"Fix the symbol set {widget.chunk_id}").click()
    expect(page.locator("h1")).to_have_text(widget.chunk_id)


def test_the_page_shows_what_is_wrong_with_the_input(signed_in_page, project_id):
    page = signed_in_page
    page.goto(f"/project/{project_id}/symbol-sets/resolve")
    page.get_by_label("Stack trace").fill("Error: x\n    at f (https://shop.example/a.js:1:2)")
    page.get_by_label("Chunk ids").fill("{not json")
    page.get_by_role("button", name="Resolve").click()
    error = page.locator("#resolve-error")
    expect(error).to_contain_text("The chunk-id map is not valid JSON")
    expect(error).to_be_focused()
    expect(page.get_by_label("Chunk ids")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Stack trace")).to_have_value(
        "Error: x\n    at f (https://shop.example/a.js:1:2)"
    )


def test_the_page_fits_a_phone(browser, live_server, user_id, project_id):
    from .conftest import open_page, sign_in

    with open_page(browser, live_server, viewport={"width": 390, "height": 800}, color_scheme="dark") as page:
        sign_in(page)
        page.goto(f"/project/{project_id}/symbol-sets/resolve")
        page.get_by_label("Stack trace").fill(
            "Error: x\n    at f (https://shop.example/" + "a" * 300 + ".js:1:2)"
        )
        page.get_by_role("button", name="Resolve").click()
        expect(page.locator("li.frame-unresolved")).to_have_count(1)
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 390
