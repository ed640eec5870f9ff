"""Security headers on every kind of response: pages, partials, errors, JSON, downloads, static files."""

import io
import re
from pathlib import Path

from webapp.storage import get_storage

REQUIRED_DIRECTIVES = [
    "default-src 'self'",
    "frame-ancestors 'none'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
]


def assert_secured(response):
    headers = response.headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["X-Frame-Options"] == "DENY"
    policy = headers["Content-Security-Policy"]
    directives = [part.strip() for part in policy.split(";")]
    for directive in REQUIRED_DIRECTIVES:
        assert directive in directives, policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    # No source but our own origin may run script or style.
    assert not any(d.startswith(("script-src", "style-src")) for d in directives), policy
    assert "Strict-Transport-Security" not in headers  # plain HTTP here


def test_html_pages_and_partials_carry_the_strict_policy(client, logged_in, project_id):
    page = client.get("/settings/profile")
    assert page.mimetype == "text/html"
    assert_secured(page)
    partial = client.get(f"/project/{project_id}/evaluations/?search=x", headers={"HX-Request": "true"})
    assert partial.status_code == 200
    assert_secured(partial)
    missing = client.get("/no-such-page")
    assert missing.status_code == 404 and missing.mimetype == "text/html"
    assert_secured(missing)


def test_logged_out_pages_and_redirects_carry_them(client):
    assert_secured(client.get("/login"))
    assert_secured(client.get("/settings/profile"))  # the redirect to the login page


def test_json_api_answers_carry_them(client, auth):
    ok = client.get("/api/projects/", headers=auth)
    assert ok.status_code == 200 and ok.mimetype == "application/json"
    assert_secured(ok)
    refused = client.get("/api/projects/")
    assert refused.status_code == 401
    assert_secured(refused)


def test_static_files_and_storage_downloads_carry_them(client, app):
    script = client.get("/static/js/app.js")
    assert script.status_code == 200
    assert_secured(script)
    script.close()

    key = "symbol_sets/1/headers-test/object"
    store = get_storage(app)
    store.put(key, io.BytesIO(b"<html><script>alert(1)</script>"), max_bytes=100)
    try:
        with app.test_request_context(base_url="http://localhost"):
            url = store.presign_download(key, 300)
        download = client.get(url)
        assert download.status_code == 200
        assert download.get_data() == b"<html><script>alert(1)</script>"
        assert_secured(download)
    finally:
        store.delete(key)


# What the policy blocks; the browser tests reach most pages, this covers every template (confirm pages too).
INLINE_CODE = re.compile(
    r"""\sstyle\s*=|<style|<script(?![^>]*\ssrc=)|\shx-on|\shx-vars|js:|\son[a-z]+\s*=|javascript:""",
    re.IGNORECASE,
)


def without_comments(source: str) -> str:
    """The template without its {# comments #}, lines kept where they were."""
    return re.sub(r"{#.*?#}", lambda m: "\n" * m.group().count("\n"), source, flags=re.DOTALL)


def test_no_template_holds_inline_code_or_style():
    templates = Path(__file__).resolve().parent.parent / "templates"
    found = [
        f"{path.relative_to(templates)}:{number}: {line.strip()}"
        for path in sorted(templates.rglob("*.html"))
        for number, line in enumerate(without_comments(path.read_text()).splitlines(), 1)
        if INLINE_CODE.search(line)
    ]
    assert not found, "\n".join(found)
