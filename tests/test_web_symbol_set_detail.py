"""Symbol set detail: the failure reason once, "Last used" only on use, a hint for swapped files."""

import io
import re

import pytest

from webapp.services import symbol_file_kinds

from . import test_web_symbol_sets
from .test_web_symbol_sets import GOOD_MAP, detail_url, minified, stored, upload

make_set = test_web_symbol_sets.make_set  # the fixture, used here too

OWN_REASON = "The source map is missing."
POSTHOG_REASON = '{"JavaScript":{"NoSourcemap":"https://cdn.example.com/app.min.js"}}'


def why_it_failed(html: str) -> str:
    article = html[html.index('<article class="failure-reason"') :]
    return article[: article.index("</article>")]


def test_a_reason_that_is_a_sentence_already_is_shown_once(client, logged_in, project_id, make_set):
    set_id = make_set("chunk-own", "failed", reason=OWN_REASON)
    article = why_it_failed(client.get(detail_url(project_id, set_id)).get_data(as_text=True))
    assert article.count(OWN_REASON) == 1 and "Stored reason" not in article


def test_a_posthog_reason_shows_the_sentence_then_the_stored_value(client, logged_in, project_id, make_set):
    set_id = make_set("chunk-json", "failed", reason=POSTHOG_REASON)
    article = why_it_failed(client.get(detail_url(project_id, set_id)).get_data(as_text=True))
    sentence = article.index("has no sourceMappingURL comment")
    raw = article.index("Stored reason")
    assert sentence < raw and article.count("Stored reason") == 1
    assert "https://cdn.example.com/app.min.js&#34;}}</code>" in article


def last_used_shown(html: str) -> str:
    return re.sub(r"<[^>]+>|\s+", " ", re.search(r"<dt>Last used</dt><dd>(.*?)</dd>", html).group(1)).strip()


def test_last_used_changes_on_use_not_on_replacement(client, logged_in, project_id, make_set, app):
    set_id = make_set("chunk-used")
    assert stored(app, set_id).last_used is None
    response = upload(client, logged_in, project_id, set_id, minified("chunk-used"), GOOD_MAP)
    assert response.status_code == 303 and stored(app, set_id).last_used is None
    assert last_used_shown(client.get(detail_url(project_id, set_id)).get_data(as_text=True)) == "Never"

    assert client.get(detail_url(project_id, set_id, "download")).status_code == 303  # a use
    used, first_hash = stored(app, set_id).last_used, stored(app, set_id).content_hash
    assert used is not None
    changed_map = GOOD_MAP.replace(b'"names": []', b'"names": ["a"]')
    response = upload(client, logged_in, project_id, set_id, minified("chunk-used"), changed_map)
    assert response.status_code == 303 and stored(app, set_id).content_hash != first_hash
    assert stored(app, set_id).last_used == used


@pytest.mark.parametrize(
    ("source", "source_map", "hint"),
    [
        (GOOD_MAP, minified("chunk-swap"), "looks like a source map and the source map like JavaScript"),
        (GOOD_MAP, GOOD_MAP, "The file chosen as the minified file looks like a source map"),
        (
            minified("chunk-swap"),
            minified("chunk-swap"),
            "The file chosen as the source map looks like JavaScript",
        ),
    ],
)
def test_files_in_the_wrong_slots_get_a_hint(
    client, logged_in, project_id, make_set, app, source, source_map, hint
):
    set_id = make_set("chunk-swap")
    before = stored(app, set_id)
    response = upload(client, logged_in, project_id, set_id, source, source_map)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f"{hint}; did you swap the files?" in html or f"{hint}: did you swap the files?" in html
    assert "Nothing was replaced: the file in use is unchanged." in html
    after = stored(app, set_id)
    assert (after.content_hash, after.status, after.failure_reason) == (before.content_hash, "uploaded", None)


def test_swapped_files_on_a_first_upload_leave_the_set_waiting_not_failed(
    client, logged_in, project_id, make_set, app
):
    set_id = make_set("chunk-first", "pending")
    response = upload(client, logged_in, project_id, set_id, GOOD_MAP, minified("chunk-first"))
    assert response.status_code == 422 and "did you swap the files?" in response.get_data(as_text=True)
    assert stored(app, set_id).status == "pending"


def test_files_in_the_right_slots_get_no_hint(client, logged_in, project_id, make_set):
    set_id = make_set("chunk-right")
    broken_map = b'{"version": 3, "sources": ['
    html = upload(client, logged_in, project_id, set_id, minified("chunk-right"), broken_map).get_data(
        as_text=True
    )
    assert "not valid JSON" in html and "did you swap the files" not in html


@pytest.mark.parametrize(
    "data",
    [
        GOOD_MAP,
        b'\xef\xbb\xbf{"version":3,"file":"app.js","mappings":"AAAA"}',
        b')]}\'\n{"version":3,"sources":["a.ts"],"mappings":""}',
        b'  \n{\n  "sections": []\n}',
    ],
)
def test_source_maps_are_recognized_and_not_taken_for_code(data):
    assert symbol_file_kinds.looks_like_source_map(data)
    assert not symbol_file_kinds.looks_like_javascript(data)


@pytest.mark.parametrize(
    "data",
    [
        minified("x"),
        b'"use strict";var a=1;',
        b"!function(e){e()}(window);\n//# sourceMappingURL=app.js.map",
        b"export const a = () => 1;",
    ],
)
def test_minified_code_is_recognized_and_not_taken_for_a_map(data):
    assert symbol_file_kinds.looks_like_javascript(data)
    assert not symbol_file_kinds.looks_like_source_map(data)


def test_neither_for_binary_or_other_json_and_the_stream_is_rewound():
    for data in (b"\x00\x01binary function", b'{"name": "package", "private": true}', b""):
        assert not symbol_file_kinds.looks_like_source_map(data)
        assert not symbol_file_kinds.looks_like_javascript(data)
    stream = io.BytesIO(b"x" * 10_000)
    assert symbol_file_kinds.head(stream) == b"x" * symbol_file_kinds.HEAD_BYTES
    assert stream.tell() == 0
