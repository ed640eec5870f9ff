"""The API reference page: public, built only from our own static files, linked where keys are made."""

import re
from html.parser import HTMLParser
from pathlib import Path

from webapp.web.api_docs import SWAGGER_UI

from .test_security_headers import assert_secured

STATIC = Path(__file__).resolve().parent.parent / "static"
DOCS = "/api/docs/"


class Links(HTMLParser):
    """The URLs a page loads (scripts, stylesheets, icons) and the ones it links to."""

    def __init__(self, html: str):
        super().__init__()
        self.loaded, self.linked, self.attributes = [], [], {}
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            self.loaded.append(attrs.get("src"))
        elif tag == "link":
            self.loaded.append(attrs["href"])
        elif tag == "a":
            self.linked.append(attrs.get("href"))
        if attrs.get("id"):
            self.attributes[attrs["id"]] = attrs


def test_the_reference_is_public_and_loads_only_our_own_static_files(client):
    page = client.get(DOCS)
    assert page.status_code == 200 and page.mimetype == "text/html"
    # The strict policy of every page: the renderer needs no exception to it.
    assert_secured(page)
    html = page.get_data(as_text=True)
    assert "<title>API reference" in html and "<h1>API reference</h1>" in html
    links = Links(html)
    # The favicon is an empty data: URL (no request); everything else comes from /static/.
    loaded = [url for url in links.loaded if url != "data:,"]
    assert f"/static/{SWAGGER_UI}/swagger-ui-bundle.js" in loaded
    assert f"/static/{SWAGGER_UI}/swagger-ui.css" in loaded
    assert "/static/js/api-docs.js" in loaded
    for url in loaded:
        assert url.startswith("/static/"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert_secured(asset)
        asset.close()
    # The renderer reads the schema this server serves, and the page links to it for client generators.
    assert links.attributes["swagger-ui"]["data-schema-url"] == "/api/schema/"
    assert "/api/schema/" in links.linked


def test_the_vendored_renderer_is_pinned_licensed_and_needs_nothing_remote():
    folder = STATIC / SWAGGER_UI
    assert folder.name == "swagger-ui-5.35.0"
    for name in (
        "swagger-ui-bundle.js",
        "swagger-ui.css",
        "LICENSE",
        "NOTICE",
        "swagger-ui-bundle.js.LICENSE.txt",
    ):
        assert (folder / name).is_file(), name
    assert "Apache License" in (folder / "LICENSE").read_text()
    for name in ("swagger-ui-bundle.js", "swagger-ui.css"):
        # The source maps are not vendored: a map comment would make browsers ask for a missing file.
        assert "sourceMappingURL" not in (folder / name).read_text(), name


def test_the_page_is_no_part_of_the_json_api(client):
    # API keys and their errors do not apply: a bad key still gets the page, not a 401.
    page = client.get(DOCS, headers={"Authorization": "Bearer phx_not_a_key"})
    assert page.status_code == 200 and page.mimetype == "text/html"
    # Without the trailing slash too, as every route here.
    assert client.get("/api/docs").status_code == 200


def test_signed_in_the_top_bar_and_the_api_keys_page_link_to_the_reference(client, logged_in):
    keys_page = client.get("/settings/api-keys").get_data(as_text=True)
    links = Links(keys_page)
    # Once in the top bar (on every page) and once in the page's own words.
    assert links.linked.count(DOCS) == 2
    # Said once: what keys are for, and where the calls are listed.
    assert keys_page.count("<p>Scripts and tools use these keys") == 1 and "Use these keys" not in keys_page
    assert re.search(r"The\s+<a href=\"[^\"]+\">API reference</a> lists every call\.", keys_page)
    assert Links(client.get("/settings/profile").get_data(as_text=True)).linked.count(DOCS) == 1

    docs = Links(client.get(DOCS).get_data(as_text=True))
    # And back: to the console and to where keys are made.
    assert "/" in docs.linked and "/settings/api-keys" in docs.linked


def test_signed_out_the_top_bar_has_no_link_but_the_page_opens(client):
    assert DOCS not in Links(client.get("/login").get_data(as_text=True)).linked
    docs = Links(client.get(DOCS).get_data(as_text=True))
    assert "/" in docs.linked and "/settings/api-keys" not in docs.linked
