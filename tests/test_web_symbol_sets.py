"""HTML views for symbol sets: list with tabs, detail, replace upload, download, delete, summary."""

import hashlib
import io
import json
import re
import uuid
from datetime import timedelta

import pytest

from webapp.extensions import db
from webapp.models import Release, SymbolSet
from webapp.models.types import utcnow
from webapp.services import accounts, symbol_sets, symbol_upload_checks
from webapp.storage import get_storage
from webapp.storage.local import LocalStorage

from .conftest import installed_storage

HX = {"HX-Request": "true"}
GOOD_MAP = json.dumps(
    {"version": 3, "sources": ["src/app.ts"], "names": [], "mappings": "AAAA,SAAS"}
).encode()


def minified(ref: str) -> bytes:
    return f"function a(){{return 1}}\n//# chunkId={ref}\n".encode()


@pytest.fixture
def make_set(app, user_id, project_id):
    """Make a symbol set in the wanted state; uploaded ones have real bytes in storage."""

    def make(ref, state="uploaded", created_ago=timedelta(0), release=None, reason=None, **fields):
        with app.app_context():
            user = accounts.get_user(user_id)
            target = accounts.resolve_project(user, project_id)
            row = SymbolSet(project_id=target.id, ref=ref, created_at=utcnow() - created_ago, **fields)
            if release:
                row.release = Release(
                    project_id=target.id, hash_id=release, version=release, project_name="web"
                )
            db.session.add(row)
            db.session.commit()
            set_id = row.id
            if state == "uploaded":
                symbol_upload_checks.replace_from_files(
                    target, user, set_id, io.BytesIO(minified(ref)), io.BytesIO(GOOD_MAP)
                )
            elif state == "failed":
                symbol_sets.mark_failed(target, ref, reason or "The source map is missing.")
            elif state == "pending":
                row = db.session.get(SymbolSet, row.pk)
                row.upload_key = symbol_sets.new_staging_key(target.id, set_id)
                row.upload_started_at = utcnow()
                db.session.commit()
            db.session.remove()
        return str(set_id)

    return make


def stored(app, set_id):
    with app.app_context():
        item = db.session.scalar(db.select(SymbolSet).where(SymbolSet.id == uuid.UUID(set_id)))
        db.session.expunge_all()
        return item


def list_url(project_id, **args):
    query = "&".join(f"{k}={v}" for k, v in args.items())
    return f"/project/{project_id}/symbol-sets/" + (f"?{query}" if query else "")


def detail_url(project_id, set_id, action=""):
    return f"/project/{project_id}/symbol-sets/{set_id}" + (f"/{action}" if action else "")


def refs_in(html: str) -> list[str]:
    return re.findall(r'class="ref[ "][^>]*>([^<]+)</a>', html)


def test_list_needs_login(client, project_id):
    response = client.get(list_url(project_id))
    assert response.status_code == 302 and "/login?next=" in response.headers["Location"]


def test_list_full_page_and_partial_with_tab_counts(client, logged_in, project_id, make_set):
    make_set("chunk-ok")
    make_set("chunk-waiting", "pending")
    make_set("chunk-bad", "failed", reason='{"JavaScript":{"NoSourcemap":"https://cdn.example/app.js"}}')
    full = client.get(list_url(project_id))
    assert full.status_code == 200 and "HX-Request" in full.headers["Vary"]
    html = full.get_data(as_text=True)
    assert "<html" in html and sorted(refs_in(html)) == ["chunk-bad", "chunk-ok", "chunk-waiting"]
    tabs = dict(re.findall(r'class="tab-(\w+)"[^>]*>\w+\s*<span class="tab-count">(\d+)</span>', html))
    assert tabs == {"all": "3", "uploaded": "1", "pending": "1", "failed": "1"}
    assert re.search(r'class="tab-all" id="tab-all"\s+aria-current="page"', html)
    assert "has no sourceMappingURL comment" in html  # the reason as a sentence, in the failed row

    partial = client.get(list_url(project_id, status="failed"), headers=HX)
    body = partial.get_data(as_text=True)
    assert "HX-Request" in partial.headers["Vary"]
    assert "<html" not in body and 'id="results"' in body
    assert refs_in(body) == ["chunk-bad"]
    assert re.search(r'class="tab-failed" id="tab-failed"\s+aria-current="page"', body)
    assert partial.headers["HX-Push-Url"] == list_url(project_id, status="failed")
    restore = client.get(list_url(project_id), headers={**HX, "HX-History-Restore-Request": "true"})
    assert "<html" in restore.get_data(as_text=True)


def test_api_status_names_work_in_the_ui(client, logged_in, project_id, make_set):
    make_set("chunk-ok")
    make_set("chunk-waiting", "pending")
    make_set("chunk-bad", "failed")
    assert refs_in(client.get(list_url(project_id, status="valid")).get_data(as_text=True)) == ["chunk-ok"]
    invalid = client.get(list_url(project_id, status="invalid")).get_data(as_text=True)
    assert sorted(refs_in(invalid)) == ["chunk-bad", "chunk-waiting"]


def test_search_and_ref_filters_keep_state_and_push_tidy_url(client, logged_in, project_id, make_set):
    make_set("main-abc123", release="v1.2.0")
    make_set("vendor-def456")
    response = client.get(list_url(project_id, search="abc", status="", order_by="ref"), headers=HX)
    html = response.get_data(as_text=True)
    assert refs_in(html) == ["main-abc123"]
    assert response.headers["HX-Push-Url"] == list_url(project_id, search="abc", order_by="ref")
    assert 'name="order_by" value="ref" form="filters"' in html
    # Tabs keep the search and sort but start from the first page.
    failed_tab = re.search(r'href="([^"]+)" class="tab-failed"', html).group(1)
    assert "search=abc" in failed_tab and "order_by=ref" in failed_tab and "status=failed" in failed_tab
    html = client.get(list_url(project_id, search="v1.2")).get_data(as_text=True)
    assert refs_in(html) == ["main-abc123"]  # release version matches too
    html = client.get(list_url(project_id, ref="vendor-def456")).get_data(as_text=True)
    assert refs_in(html) == ["vendor-def456"]


def test_sort_headers_and_aria_sort(client, logged_in, project_id, make_set):
    make_set("b-chunk", created_ago=timedelta(hours=2), last_used=utcnow() - timedelta(hours=1))
    make_set("a-chunk", created_ago=timedelta(hours=1))
    make_set("c-chunk", created_ago=timedelta(hours=3), last_used=utcnow())
    html = client.get(list_url(project_id)).get_data(as_text=True)
    assert refs_in(html) == ["a-chunk", "b-chunk", "c-chunk"]  # newest first by default
    assert re.search(r'aria-sort="descending">\s*<a[^>]*>Created', html)
    html = client.get(list_url(project_id, order_by="ref")).get_data(as_text=True)
    assert refs_in(html) == ["a-chunk", "b-chunk", "c-chunk"]
    assert re.search(r'aria-sort="ascending">\s*<a href="[^"]*order_by=-ref[^"]*" id="sort-ref">Ref', html)
    html = client.get(list_url(project_id, order_by="-last_used")).get_data(as_text=True)
    assert refs_in(html) == ["c-chunk", "b-chunk", "a-chunk"]  # never used sorts last
    html = client.get(list_url(project_id, order_by="created_at")).get_data(as_text=True)
    assert refs_in(html) == ["c-chunk", "b-chunk", "a-chunk"]


def test_bad_query_is_a_message_not_a_500(client, logged_in, project_id):
    response = client.get(list_url(project_id, status="broken"))
    assert response.status_code == 400
    assert "status:" in response.get_data(as_text=True)


def test_twenty_per_page(client, logged_in, project_id, make_set):
    for i in range(23):
        make_set(f"chunk-{i:02d}", "pending", created_ago=timedelta(minutes=i))
    html = client.get(list_url(project_id)).get_data(as_text=True)
    assert "Showing 1–20 of 23" in html and len(refs_in(html)) == 20
    next_link = re.search(r'href="([^"]+)" rel="next"', html).group(1)
    html = client.get(next_link.replace("&amp;", "&")).get_data(as_text=True)
    assert "Showing 21–23 of 23" in html and refs_in(html) == ["chunk-20", "chunk-21", "chunk-22"]


def test_bulk_delete_confirm_page_then_confirmed(client, logged_in, project_id, make_set, app):
    ids = [make_set(f"chunk-{i}") for i in range(3)]
    keys = [stored(app, i).storage_ptr for i in ids]
    url = f"/project/{project_id}/symbol-sets/bulk-delete"
    back = list_url(project_id, status="uploaded")
    response = client.post(url, data={"csrf_token": logged_in, "ids": ids[:2], "next": back})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "Delete 2 symbol sets?" in html
    assert "chunk-0" in html and "chunk-2" not in html
    assert stored(app, ids[0]) is not None
    response = client.post(
        url, data={"csrf_token": logged_in, "ids": ids[:2], "confirmed": "1", "next": back}
    )
    assert response.status_code == 303 and response.headers["Location"] == back
    assert stored(app, ids[0]) is None and stored(app, ids[1]) is None and stored(app, ids[2]) is not None
    with app.app_context():
        assert get_storage().head(keys[0]) is None and get_storage().head(keys[2]) is not None
    assert "Deleted 2 symbol sets." in client.get(back).get_data(as_text=True)


def test_bulk_delete_over_htmx_redirects(client, logged_in, project_id, make_set, app):
    ids = [make_set(f"chunk-{i}", "failed") for i in range(2)]
    response = client.post(
        f"/project/{project_id}/symbol-sets/bulk-delete",
        data={"csrf_token": logged_in, "ids": ids, "confirmed": "1"},
        headers=HX,
    )
    assert response.status_code == 204 and response.headers["HX-Redirect"] == list_url(project_id)
    assert all(stored(app, i) is None for i in ids)


def test_row_delete_from_list_rerenders_the_same_list(client, logged_in, project_id, make_set, app):
    gone = make_set("chunk-gone", "failed")
    make_set("chunk-stays", "failed")
    make_set("chunk-other")
    response = client.post(
        detail_url(project_id, gone, "delete"),
        data={"csrf_token": logged_in, "from": "list", "confirmed": "1"},
        headers={**HX, "HX-Current-URL": f"http://localhost{list_url(project_id, status='failed')}"},
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and refs_in(html) == ["chunk-stays"]
    assert 'hx-swap-oob="true"' in html and "Deleted the symbol set chunk-gone." in html
    assert stored(app, gone) is None


def test_row_delete_without_javascript_confirms_first(client, logged_in, project_id, make_set, app):
    set_id = make_set("chunk-x")
    response = client.post(detail_url(project_id, set_id, "delete"), data={"csrf_token": logged_in})
    assert "Delete 1 symbol set?" in response.get_data(as_text=True)
    assert stored(app, set_id) is not None
    response = client.post(
        detail_url(project_id, set_id, "delete"), data={"csrf_token": logged_in, "confirmed": "1"}
    )
    assert response.status_code == 303 and response.headers["Location"] == list_url(project_id)
    assert stored(app, set_id) is None


def test_post_without_csrf_is_refused(client, logged_in, project_id, make_set, app):
    set_id = make_set("chunk-x")
    response = client.post(detail_url(project_id, set_id, "delete"), data={"confirmed": "1"})
    assert response.status_code == 403
    response = client.post(
        f"/project/{project_id}/symbol-sets/bulk-delete", data={"ids": [set_id], "confirmed": "1"}
    )
    assert response.status_code == 403
    response = client.post(
        detail_url(project_id, set_id, "replace"),
        data={"source": (io.BytesIO(b"x"), "a.js"), "source_map": (io.BytesIO(GOOD_MAP), "a.js.map")},
    )
    assert response.status_code == 403
    assert stored(app, set_id).status == "uploaded"


def test_other_projects_set_is_404(client, logged_in, make_user, make_set, app, project_id):
    other_user = make_user("eve@example.com", organization="Other org")
    with app.app_context():
        other_project = accounts.resolve_project(accounts.get_user(other_user), "@current")
        row = SymbolSet(project_id=other_project.id, ref="theirs", content_hash="a" * 128, storage_ptr="k")
        db.session.add(row)
        db.session.commit()
        theirs, other_id = str(row.id), other_project.id
    assert client.get(list_url(other_id)).status_code == 404
    assert client.get(detail_url(project_id, theirs)).status_code == 404
    assert client.get(detail_url(project_id, theirs, "download")).status_code == 404
    assert client.get(detail_url(project_id, "not-a-uuid")).status_code == 404
    response = client.post(
        detail_url(project_id, theirs, "delete"), data={"csrf_token": logged_in, "confirmed": "1"}
    )
    assert response.status_code == 404
    assert stored(app, theirs) is not None


def test_detail_shows_reason_sentence_raw_value_release_and_activity(client, logged_in, project_id, make_set):
    reason = '{"JavaScript":{"NoSourcemap":"https://cdn.example/app.js"}}'
    set_id = make_set("chunk-bad", "failed", release="2.4.1", reason=reason)
    html = client.get(detail_url(project_id, set_id)).get_data(as_text=True)
    assert "The minified file https://cdn.example/app.js has no sourceMappingURL comment" in html
    assert (
        "<code>{&#34;JavaScript&#34;:{&#34;NoSourcemap&#34;:&#34;https://cdn.example/app.js&#34;}}</code>"
        in html
    )
    assert "2.4.1" in html and "(web)" in html
    assert "recorded a failure" in html
    assert "Download" not in html  # nothing uploaded to download


def test_detail_of_uploaded_set_shows_size_hash_and_download(client, logged_in, project_id, make_set, app):
    set_id = make_set("chunk-ok")
    item = stored(app, set_id)
    html = client.get(detail_url(project_id, set_id)).get_data(as_text=True)
    assert f'title="{item.content_hash}"' in html
    assert f"{item.size_bytes} bytes" in html and "uploaded the file" in html
    assert 'class="badge badge-uploaded"' in html


def test_download_redirects_to_a_signed_url(client, logged_in, project_id, make_set, app):
    set_id = make_set("chunk-ok")
    response = client.get(detail_url(project_id, set_id, "download"))
    assert response.status_code == 303
    location = response.headers["Location"]
    download = client.get(location)
    assert download.status_code == 200
    assert download.data.startswith(b"posthog_error_tracking") and GOOD_MAP in download.data
    assert stored(app, set_id).last_used is not None
    pending = make_set("chunk-pending", "pending")
    response = client.get(detail_url(project_id, pending, "download"))
    assert response.status_code == 404 and "no uploaded file" in response.get_data(as_text=True)


def upload(client, token, project_id, set_id, source, source_map, headers=None, confirmed=True):
    """POST the replace form; `confirmed` as the form sends it once the user confirmed (or ticked)."""
    return client.post(
        detail_url(project_id, set_id, "replace"),
        data={
            **({"csrf_token": token} if token else {}),
            **({"confirmed": "1"} if confirmed else {}),
            "source": (io.BytesIO(source), "app.min.js"),
            "source_map": (io.BytesIO(source_map), "app.min.js.map"),
        },
        content_type="multipart/form-data",
        headers=headers or {},
    )


def test_replace_failed_set_with_good_files_over_htmx(client, logged_in, project_id, make_set, app):
    set_id = make_set("chunk-bad", "failed")
    response = upload(
        client, None, project_id, set_id, minified("chunk-bad"), GOOD_MAP, {**HX, "X-CSRFToken": logged_in}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html and 'id="symbol-set"' in html
    assert 'class="badge badge-uploaded"' in html and "Why it failed" not in html
    assert "Replaced the files of chunk-bad" in html and 'hx-swap-oob="true"' in html
    assert "uploaded the file" in html
    item = stored(app, set_id)
    assert item.status == "uploaded" and item.failure_reason is None
    with app.app_context(), get_storage().open(item.storage_ptr) as stream:
        assert stream.read().startswith(b"posthog_error_tracking")


@pytest.fixture
def own_storage(app, tmp_path):
    """A store of the test's own, so every object left behind (or not) is visible."""
    with installed_storage(app, LocalStorage(tmp_path / "objects", secret_key=app.config["SECRET_KEY"])):
        yield


def all_objects(app) -> list[str]:
    later = utcnow() + timedelta(days=1)
    with app.app_context():
        storage = get_storage()
        return sorted(
            key for prefix in ("symbol_sets/", "staging/") for key in storage.list_keys(prefix, later)
        )


def test_a_failed_replacement_leaves_the_uploaded_set_exactly_as_it_was(
    client, logged_in, project_id, make_set, app, own_storage
):
    set_id = make_set("chunk-ok")
    assert client.get(detail_url(project_id, set_id, "download")).status_code == 303  # sets last_used
    before = stored(app, set_id)
    with app.app_context():
        good = b"".join(get_storage().iter_chunks(before.storage_ptr))

    response = upload(
        client, logged_in, project_id, set_id, minified("chunk-ok"), b'{"version": 3, "sources": ['
    )

    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "The new files did not pass the check" in html and "The source map is not valid JSON" in html
    assert "Nothing was replaced: the file in use is unchanged." in html
    assert "Why it failed" not in html
    after = stored(app, set_id)
    fields = ("status", "storage_ptr", "size_bytes", "content_hash", "last_used", "failure_reason")
    assert {f: getattr(after, f) for f in fields} == {f: getattr(before, f) for f in fields}
    assert after.status == "uploaded"
    assert all_objects(app) == [before.storage_ptr]  # the rejected bytes were not kept
    with app.app_context():
        assert b"".join(get_storage().iter_chunks(after.storage_ptr)) == good
    assert hashlib.sha512(good).hexdigest() == after.content_hash
    assert "tried a new file that failed the check (the file in use was kept)" in html
    assert "The source map is not valid JSON" in html.split("<h2>Activity</h2>")[1]


def test_a_failed_first_upload_marks_the_set_failed_and_keeps_the_rejected_file(
    client, logged_in, project_id, make_set, app
):
    set_id = make_set("chunk-new", "pending")
    broken = b'{"version": 3, "sources": ['

    response = upload(client, logged_in, project_id, set_id, minified("chunk-new"), broken)

    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Why it failed" in html and "The source map is not valid JSON" in html
    assert "recorded a failure" in html
    item = stored(app, set_id)
    assert item.status == "failed" and "not valid JSON" in item.failure_reason
    assert (item.storage_ptr, item.content_hash) == (None, None)  # nothing checked to serve
    assert client.get(detail_url(project_id, set_id, "download")).status_code == 404
    assert "Download the rejected file" in html
    rejected = client.get(detail_url(project_id, set_id, "download-rejected"))
    assert rejected.status_code == 303
    fetched = client.get(rejected.headers["Location"])
    assert fetched.status_code == 200 and broken in fetched.data
    assert "chunk-new.rejected.symbols" in fetched.headers["Content-Disposition"]


def test_replacing_an_uploaded_set_asks_for_confirmation_first(client, logged_in, project_id, make_set, app):
    set_id = make_set("chunk-ok")
    before = stored(app, set_id)
    page = client.get(detail_url(project_id, set_id)).get_data(as_text=True)
    form = re.search(r'<form method="post" enctype="multipart/form-data"[^>]*>', page).group(0)
    assert 'hx-confirm="This replaces the file in use.' in form
    assert """hx-vals='{"confirmed": "1"}'""" in form

    # Without JavaScript (no dialog, so no "confirmed"): nothing happens, the page asks for a tick.
    response = upload(client, logged_in, project_id, set_id, minified("chunk-ok"), GOOD_MAP, confirmed=False)

    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "This replaces the file in use. Tick the box to confirm" in html
    assert re.search(r'<input type="checkbox" name="confirmed" value="1" required>', html)
    assert stored(app, set_id).content_hash == before.content_hash
    response = upload(
        client, logged_in, project_id, set_id, minified("chunk-ok"), GOOD_MAP.replace(b"[]", b'["a"]')
    )
    assert response.status_code == 303
    assert stored(app, set_id).content_hash != before.content_hash

    pending = make_set("chunk-pending", "pending")
    page = client.get(detail_url(project_id, pending)).get_data(as_text=True)
    assert 'hx-confirm="This replaces' not in page
    response = upload(
        client, logged_in, project_id, pending, minified("chunk-pending"), GOOD_MAP, confirmed=False
    )
    assert response.status_code == 303


def test_replace_without_javascript_redirects_to_detail(client, logged_in, project_id, make_set, app):
    set_id = make_set("chunk-x", "pending")
    response = upload(client, logged_in, project_id, set_id, minified("chunk-x"), GOOD_MAP)
    assert response.status_code == 303 and response.headers["Location"] == detail_url(project_id, set_id)
    assert stored(app, set_id).status == "uploaded"


def test_replace_needs_both_files(client, logged_in, project_id, make_set, app):
    set_id = make_set("chunk-x", "pending")
    response = client.post(
        detail_url(project_id, set_id, "replace"),
        data={"csrf_token": logged_in, "source": (io.BytesIO(b"x"), "a.js")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "Choose both the minified file and its source map." in response.get_data(as_text=True)
    response = upload(client, logged_in, project_id, set_id, b"", GOOD_MAP)
    assert response.status_code == 422 and "neither may be empty" in response.get_data(as_text=True)
    assert stored(app, set_id).status == "pending"


def test_replace_accepts_more_than_the_form_limit(client, logged_in, project_id, make_set, app):
    set_id = make_set("chunk-big", "pending")
    padding = "x" * (2 * 1024 * 1024)
    big_map = json.dumps({"version": 3, "sources": ["a.js"], "mappings": "AAAA", "sourcesContent": [padding]})
    response = upload(client, logged_in, project_id, set_id, minified("chunk-big"), big_map.encode())
    assert response.status_code == 303
    assert stored(app, set_id).size_bytes > 2 * 1024 * 1024


def test_replace_too_large_is_a_clear_413(client, logged_in, project_id, make_set, app):
    set_id = make_set("chunk-x", "pending")
    response = client.post(
        detail_url(project_id, set_id, "replace"),
        data=b"--b--\r\n",
        content_type="multipart/form-data; boundary=b",
        headers={**HX, "X-CSRFToken": logged_in},
        # Declared larger than the limit: refused before a byte of the body is read.
        environ_overrides={"CONTENT_LENGTH": str(102 * 1024 * 1024)},
    )
    assert response.status_code == 413
    html = response.get_data(as_text=True)
    assert "too large" in html and "100 MiB" in html and 'id="symbol-set"' in html
    assert stored(app, set_id).status == "pending"


def test_summary_counts_and_daily_chart(client, logged_in, project_id, make_set):
    make_set("chunk-ok")
    make_set("chunk-ok-2")
    make_set("chunk-bad", "failed")
    make_set("chunk-waiting", "pending")
    html = client.get(f"/project/{project_id}/symbol-sets/summary").get_data(as_text=True)
    counts = dict(re.findall(r'class="count-(\w+)">\s*<a[^>]*>\s*<span class="number">(\d+)<', html))
    assert counts == {"all": "4", "uploaded": "2", "pending": "1", "failed": "1"}
    assert '<svg viewBox="0 0 720 200" role="img"' in html
    assert re.search(r'class="bar-uploads"><title>\d{4}-\d\d-\d\d: 2 uploads</title>', html)
    assert re.search(r'class="bar-failures"><title>\d{4}-\d\d-\d\d: 1 failure</title>', html)
    assert "<caption>Uploads and failures per day" in html
    assert len(re.findall(r'<tr><th scope="row"><time', html)) == 30
    assert '<tfoot><tr><th scope="row">Total</th><td class="numeric">2</td><td class="numeric">1</td>' in html
    listing = client.get(list_url(project_id)).get_data(as_text=True)
    assert f'href="/project/{project_id}/symbol-sets/summary"' in listing


def test_nav_links_to_symbol_sets(client, logged_in, project_id):
    html = client.get(f"/project/{project_id}/evaluations/").get_data(as_text=True)
    assert f'href="/project/{project_id}/symbol-sets/"' in html
