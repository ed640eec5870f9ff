"""The "Resolve a stack trace" page and what a set's page says its file contains."""

import re
import shutil
import subprocess

import pytest

from webapp.services import symbolication
from webapp.web.symbolicate import parse_chunk_map

from .symbol_blobs import symbol_data_blob
from .test_api_symbol_sets import ErrorTracking
from .test_api_symbolicate import CHROME_STACK, CHUNK, SCRIPT, fresh_cache  # noqa: F401 (fixture)

HX = {"HX-Request": "true"}


@pytest.fixture
def et(client, auth, project_id):
    return ErrorTracking(client, auth, project_id)


def resolve_url(project_id):
    return f"/project/{project_id}/symbol-sets/resolve"


def test_the_page_needs_a_login(client, project_id):
    response = client.get(resolve_url(project_id))
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_list_and_each_set_link_to_the_page(client, logged_in, project_id, et):
    uploaded = et.upload_set(CHUNK)
    for page in ("", uploaded["id"]):
        html = client.get(f"/project/{project_id}/symbol-sets/{page}").get_data(as_text=True)
        assert f'href="{resolve_url(project_id)}"' in html


def test_a_post_without_javascript_shows_the_resolved_frames(client, logged_in, project_id, et):
    uploaded = et.upload_set(CHUNK)
    response = client.post(
        resolve_url(project_id),
        data={"csrf_token": logged_in, "stack": CHROME_STACK, "chunk_ids": f"{SCRIPT} {CHUNK}"},
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<code>../src/app.ts:1:36</code>" in html
    assert "in <strong>boom</strong>" in html
    assert "2 of 2 frames resolved" in html
    assert f'/symbol-sets/{uploaded["id"]}"' in html
    assert "<mark>" in html and "export function boom(n: number)" in html
    assert "<!doctype html>" in html  # the whole page


def test_htmx_gets_the_partial_and_misses_link_to_their_set(client, logged_in, project_id):
    response = client.post(
        resolve_url(project_id),
        data={"csrf_token": logged_in, "stack": CHROME_STACK, "chunk_ids": f'{{"{SCRIPT}": "chunk-gone"}}'},
        headers=HX,
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<!doctype html>" not in html
    assert "0 of 2 frames resolved" in html
    assert "No symbol set was uploaded for chunk chunk-gone" in html
    assert re.search(r'href="/project/\d+/symbol-sets/[0-9a-f-]{36}">Fix the symbol set chunk-gone</a>', html)


def test_bad_input_is_shown_at_its_field(client, logged_in, project_id):
    response = client.post(
        resolve_url(project_id),
        data={"csrf_token": logged_in, "stack": CHROME_STACK, "chunk_ids": "just-one-word-and\ttwo three"},
        headers=HX,
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Line 1 of the chunk-id map is not" in html
    assert re.search(r'id="chunk_ids"[^>]*aria-invalid="true"', html, re.S)
    assert CHROME_STACK.splitlines()[1].strip() in html  # what was typed is kept


def test_a_post_without_csrf_is_refused(client, logged_in, project_id):
    response = client.post(resolve_url(project_id), data={"stack": CHROME_STACK})
    assert response.status_code == 403
    assert "0 of" not in response.get_data(as_text=True)


def test_text_past_the_limit_is_a_413_page(client, logged_in, project_id):
    big = "x" * (symbolication.BODY_LIMIT + 1)
    response = client.post(resolve_url(project_id), data={"csrf_token": logged_in, "stack": big})
    assert response.status_code == 413
    assert "paste at most 1 MiB of stack text" in response.get_data(as_text=True)


def test_chunk_maps_as_json_or_lines():
    assert parse_chunk_map(f'{{"{SCRIPT}": "c1"}}') == {SCRIPT: "c1"}
    assert parse_chunk_map(f"{SCRIPT} c1\n\nhttps://b.example/b.js = c2\n") == {
        SCRIPT: "c1",
        "https://b.example/b.js": "c2",
    }
    assert parse_chunk_map("  ") == {}


def test_a_source_map_set_page_says_what_its_file_contains(client, logged_in, project_id, et):
    uploaded = et.upload_set(CHUNK)
    html = client.get(f"/project/{project_id}/symbol-sets/{uploaded['id']}").get_data(as_text=True)
    assert "1 source file;" in html
    assert "sources included (<code>sourcesContent</code>)" in html
    assert "Maps <code>app.min.js</code>." in html


def test_an_elf_set_page_shows_its_debug_id_and_architecture(client, logged_in, project_id, et, tmp_path):
    if shutil.which("gcc") is None:
        pytest.fail("gcc is needed to build the ELF file this test uploads (apt-get install gcc)")
    (tmp_path / "a.c").write_text("int main(void) { return 0; }\n")
    subprocess.run(["gcc", "-g", "-Wl,--build-id", "-o", tmp_path / "a", tmp_path / "a.c"], check=True)
    uploaded = et.upload_set("native-1", symbol_data_blob((tmp_path / "a").read_bytes(), data_type=6))
    assert uploaded["status"] == "uploaded"
    html = client.get(f"/project/{project_id}/symbol-sets/{uploaded['id']}").get_data(as_text=True)
    assert "ELF file, x86_64, with debug information." in html
    assert re.search(r"Debug id</small> <code>[0-9a-f]{8}-[0-9a-f]{4}-", html)


def test_an_older_set_says_its_contents_were_not_recorded(app, client, logged_in, project_id, et):
    from webapp.extensions import db
    from webapp.models import SymbolSet

    uploaded = et.upload_set(CHUNK)
    with app.app_context():
        db.session.execute(SymbolSet.__table__.update().values(contents=None))
        db.session.commit()
    html = client.get(f"/project/{project_id}/symbol-sets/{uploaded['id']}").get_data(as_text=True)
    assert "Not recorded: the file was checked before its contents were read." in html
