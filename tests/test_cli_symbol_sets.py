"""Flask commands for symbol sets: symbol-sets expire-pending / mark-failed, seed-demo --symbol-sets."""

import hashlib
import io
import json
import os
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from webapp import demo
from webapp.extensions import db
from webapp.models import ActivityLog, Release, SymbolSet
from webapp.models.types import utcnow
from webapp.services import (
    accounts,
    api_keys,
    failure_reasons,
    symbol_data,
    symbol_sets,
    symbol_upload_expiry,
)
from webapp.storage import get_storage

from .conftest import assert_clean_error

NO_SOURCEMAP = '{"JavaScript":{"NoSourcemap":"https://app.acme.dev/static/chunk-3f2a.js"}}'
NO_SOURCEMAP_SENTENCE = (
    "The minified file https://app.acme.dev/static/chunk-3f2a.js has no sourceMappingURL comment, "
    "so its source map could not be found."
)


def add_sets(project_id, **sets):
    """Insert symbol sets by ref: each value is a dict of column values."""
    with db.session.begin():
        for ref, values in sets.items():
            db.session.add(SymbolSet(project_id=project_id, ref=ref, **values))
    db.session.remove()


def sets_by_ref(project_id):
    return {
        row.ref: row
        for row in db.session.scalars(select(SymbolSet).where(SymbolSet.project_id == project_id))
    }


def activity_for(item):
    return list(
        db.session.scalars(
            select(ActivityLog).where(ActivityLog.item_id == str(item.id)).order_by(ActivityLog.id)
        )
    )


# --- symbol-sets expire-pending -------------------------------------------------------------------


@pytest.fixture
def sets_of_every_kind(app, project_id):
    now = utcnow()
    hash_ = "a" * 128
    with app.app_context():
        add_sets(
            project_id,
            **{
                "abandoned": {
                    "upload_key": "staging/x/1",
                    "upload_started_at": now - timedelta(minutes=40),
                },
                "a-bit-late": {
                    "upload_key": "staging/x/2",
                    "upload_started_at": now - timedelta(minutes=12),
                },
                "in-flight": {
                    "upload_key": "staging/x/3",
                    "upload_started_at": now - timedelta(minutes=2),
                },
                # A finished upload clears upload_key; an old upload_started_at must not matter either.
                "uploaded": {
                    "storage_ptr": "symbol_sets/x/4",
                    "content_hash": hash_,
                    "upload_started_at": now - timedelta(days=2),
                    "uploaded_at": now - timedelta(days=2),
                },
                "failed": {
                    "rejected_key": "symbol_sets/x/5",
                    "upload_started_at": now - timedelta(days=3),
                    "failure_reason": NO_SOURCEMAP,
                    "failed_at": now - timedelta(days=3),
                },
                "recorded-by-symbolicator": {
                    "failure_reason": "Bad map.",
                    "failed_at": now - timedelta(days=1),
                },
            },
        )
    return now


def test_expire_pending_marks_only_abandoned_uploads_as_failed(app, run, project_id, sets_of_every_kind):
    result = run("symbol-sets", "expire-pending")

    assert result.exit_code == 0, result.output
    assert result.stdout == "Expired 1 pending upload.\n"
    with app.app_context():
        rows = sets_by_ref(project_id)
        abandoned = rows["abandoned"]
        assert abandoned.status == "failed"
        assert "never finished" in abandoned.failure_reason
        assert "bulk_finish_upload" in failure_reasons.describe(abandoned.failure_reason)
        assert abandoned.failed_at >= sets_of_every_kind
        assert (abandoned.content_hash, abandoned.storage_ptr, abandoned.upload_key) == (None, None, None)
        [entry] = activity_for(abandoned)
        assert (entry.activity, entry.user_id, entry.scope) == ("failed", None, symbol_sets.SCOPE)
        assert entry.detail["changes"] == [
            {"field": "failure_reason", "before": None, "after": abandoned.failure_reason}
        ]
        # Inside the URL lifetime plus the default 10-minute grace, or not pending at all: untouched.
        assert rows["a-bit-late"].status == rows["in-flight"].status == "pending"
        assert rows["uploaded"].status == "uploaded"
        assert rows["failed"].failure_reason == NO_SOURCEMAP
        assert rows["recorded-by-symbolicator"].failure_reason == "Bad map."
        assert db.session.scalar(select(db.func.count(ActivityLog.id))) == 1

    again = run("symbol-sets", "expire-pending")
    assert again.exit_code == 0, again.output
    assert again.stdout == "No pending uploads have expired.\n"


def test_expire_pending_with_a_shorter_grace(app, run, project_id, sets_of_every_kind):
    result = run("symbol-sets", "expire-pending", "--grace-minutes", "5")

    assert result.exit_code == 0, result.output
    assert result.stdout == "Expired 2 pending uploads.\n"
    with app.app_context():
        rows = sets_by_ref(project_id)
        assert rows["abandoned"].status == rows["a-bit-late"].status == "failed"
        assert rows["in-flight"].status == "pending"


def test_expire_pending_with_nothing_to_do(app, run):
    result = run("symbol-sets", "expire-pending")

    assert result.exit_code == 0, result.output
    assert result.stdout == "No pending uploads have expired.\n"


def test_expire_pending_refuses_a_negative_grace(run):
    result = run("symbol-sets", "expire-pending", "--grace-minutes", "-1")

    assert_clean_error(result, "Invalid value for '--grace-minutes'", exit_code=2)


# --- symbol-sets mark-failed ----------------------------------------------------------------------


def test_mark_failed_creates_the_set_and_prints_the_reason_as_a_sentence(app, run, client, project_id, auth):
    result = run("symbol-sets", "mark-failed", str(project_id), "chunk-3f2a", "--reason", NO_SOURCEMAP)

    assert result.exit_code == 0, result.output
    with app.app_context():
        [row] = sets_by_ref(project_id).values()
        assert (row.ref, row.status, row.failure_reason) == ("chunk-3f2a", "failed", NO_SOURCEMAP)
        assert row.failed_at is not None and row.storage_ptr is None and row.content_hash is None
        [entry] = activity_for(row)
        assert entry.activity == "failed"
        set_id = str(row.id)
    assert result.stdout.splitlines() == [
        f"Created symbol set {set_id} for the new ref chunk-3f2a in project 'Default project' "
        f"(id {project_id}), marked as failed.",
        f"Reason: {NO_SOURCEMAP_SENTENCE}",
    ]
    # The API shows the raw reason, and the set among the failed ones.
    listing = client.get(
        f"/api/projects/{project_id}/error_tracking/symbol_sets",
        query_string={"status": "failed"},
        headers=auth,
    )
    assert [(item["id"], item["failure_reason"]) for item in listing.json["results"]] == [
        (set_id, NO_SOURCEMAP)
    ]


def test_mark_failed_updates_an_existing_set(app, run, project_id):
    with app.app_context():
        add_sets(
            project_id,
            **{
                "chunk-1": {
                    "storage_ptr": "symbol_sets/x/1",
                    "content_hash": "b" * 128,
                    "uploaded_at": utcnow() - timedelta(days=1),
                }
            },
        )
        set_id = str(sets_by_ref(project_id)["chunk-1"].id)
        db.session.remove()
    reason = "The source map is not valid JSON (Expecting value at line 1)."

    first = run("symbol-sets", "mark-failed", str(project_id), "chunk-1", "--reason", NO_SOURCEMAP)
    second = run("symbol-sets", "mark-failed", str(project_id), "chunk-1", "--reason", f"  {reason}\n")

    assert first.exit_code == second.exit_code == 0, first.output + second.output
    assert first.stdout.splitlines()[0] == (
        f"Marked symbol set {set_id} (ref chunk-1) in project 'Default project' (id {project_id}) as failed."
    )
    assert second.stdout.splitlines() == [first.stdout.splitlines()[0], f"Reason: {reason}"]
    with app.app_context():
        [row] = sets_by_ref(project_id).values()
        assert (str(row.id), row.status, row.failure_reason) == (set_id, "failed", reason)
        entries = activity_for(row)
        assert [entry.detail["changes"][0] for entry in entries] == [
            {"field": "failure_reason", "before": None, "after": NO_SOURCEMAP},
            {"field": "failure_reason", "before": NO_SOURCEMAP, "after": reason},
        ]


def test_mark_failed_warns_about_json_that_does_not_parse(app, run, project_id):
    result = run("symbol-sets", "mark-failed", str(project_id), "chunk-1", "--reason", '{"JavaScript":')

    assert result.exit_code == 0, result.output
    assert "looks like JSON but does not parse" in result.stderr
    assert result.stdout.splitlines()[-1] == 'Reason: {"JavaScript":'


def test_mark_failed_in_an_unknown_project(app, run, project_id):
    result = run("symbol-sets", "mark-failed", str(project_id + 1), "chunk-1", "--reason", NO_SOURCEMAP)

    assert_clean_error(result, f"No project with id {project_id + 1}.")
    with app.app_context():
        assert db.session.scalars(select(SymbolSet)).all() == []


@pytest.mark.parametrize(
    ("args", "message", "exit_code"),
    [
        (("abc", "chunk-1", "--reason", "x"), "Invalid value for 'PROJECT_ID'", 2),
        (("{project_id}", "chunk-1"), "Missing option '--reason'", 2),
        (("{project_id}", "chunk-1", "--reason", "   "), "Give the failure reason.", 1),
        (("{project_id}", " ", "--reason", "x"), "must be a non-empty string", 1),
    ],
)
def test_mark_failed_reports_bad_input(app, run, project_id, args, message, exit_code):
    result = run("symbol-sets", "mark-failed", *(arg.format(project_id=project_id) for arg in args))

    assert_clean_error(result, message, exit_code=exit_code)
    with app.app_context():
        assert db.session.scalars(select(SymbolSet)).all() == []


# --- seed-demo --symbol-sets ----------------------------------------------------------------------


def demo_project():
    return accounts.resolve_project(accounts.find_user_by_email(demo.DEMO_EMAIL), "@current")


def test_seed_demo_adds_symbol_sets_of_every_status_with_real_objects(app, run):
    result = run("seed-demo", "--evaluations", "0", "--symbol-sets", "30")

    assert result.exit_code == 0, result.output
    assert "Added 30 symbol sets (15 uploaded, 6 pending, 9 failed; releases acme-web 2.13.1 and " in (
        result.stdout
    )
    now = utcnow()
    with app.app_context():
        project = demo_project()
        rows = list(sets_by_ref(project.id).values())
        assert symbol_sets.status_counts(project) == {"uploaded": 15, "pending": 6, "failed": 9, "all": 30}
        storage = get_storage()
        with_objects = 0
        for row in rows:
            assert now - timedelta(days=30) <= row.created_at <= now
            if row.storage_ptr or row.rejected_key:
                assert (row.storage_ptr or row.rejected_key).startswith(f"symbol_sets/{project.id}/{row.id}/")
            if row.rejected_key:
                # Rejected bytes are kept for review, apart from any checked file.
                assert (row.status, row.storage_ptr, row.content_hash) == ("failed", None, None)
                with (
                    storage.open(row.rejected_key) as stream,
                    pytest.raises(symbol_data.InvalidSymbolData) as rejected,
                ):
                    symbol_data.inspect(stream)
                assert str(rejected.value) == row.failure_reason
                with_objects += 1
            if row.content_hash is None:
                continue
            # Every set that claims a file has its own object, and the hash is of exactly those bytes.
            with_objects += 1
            with storage.open(row.storage_ptr) as stream:
                stored = stream.read()
            assert hashlib.sha512(stored).hexdigest() == row.content_hash
            assert len(stored) == row.size_bytes
            info = symbol_data.inspect(io.BytesIO(stored))
            assert (info.kind, info.chunk_id) == ("symbol_data", row.ref)
            assert row.uploaded_at is not None and row.failure_reason is None
        assert with_objects >= 15
        assert len({row.storage_ptr for row in rows if row.storage_ptr}) == len(
            [r for r in rows if r.storage_ptr]
        )

        pending = [row for row in rows if row.status == "pending"]
        for row in pending:
            assert row.storage_ptr is None and storage.head(row.upload_key) is None
            assert row.upload_key.startswith(f"staging/symbol_sets/{project.id}/{row.id}/")
            assert now - timedelta(minutes=5) <= row.upload_started_at <= now

        failed = [row for row in rows if row.status == "failed"]
        reasons = [row.failure_reason for row in failed]
        assert "The source map is not valid JSON (Expecting value at line 1)." in reasons
        assert any("never finished" in reason for reason in reasons)
        posthog_style = [json.loads(reason) for reason in reasons if reason.startswith("{")]
        assert {"NoSourcemap", "SourcemapNotFound"} <= {
            variant for parsed in posthog_style for variant in parsed["JavaScript"]
        }
        for row in failed:
            assert row.failed_at is not None
            assert failure_reasons.describe(row.failure_reason)[-1] == "."

        [older, newer] = db.session.scalars(select(Release).order_by(Release.created_at)).all()
        assert (newer.project_name, newer.version, older.version) == ("acme-web", "2.14.0", "2.13.1")
        assert set(newer.metadata_["git"]) == {"repo_name", "branch", "commit_id"}
        assert any(row.release_id == newer.id for row in rows)

        # The history the services would have written, and data for the summary chart.
        for row in rows:
            entries = [entry.activity for entry in activity_for(row)]
            assert entries == {"uploaded": ["uploaded"], "failed": ["failed"], "pending": []}[row.status]
        days = symbol_sets.daily_activity(project)
        assert sum(day["uploads"] for day in days) == 15
        assert sum(day["failures"] for day in days) == 9
        assert len({row.created_at.date() for row in rows}) > 5

        # The pending uploads are real ones: once their URLs are long expired, the command fails them.
        assert symbol_upload_expiry.expire_pending(now=utcnow() + timedelta(hours=1)) == 6


def test_seeded_symbol_sets_download_through_the_api(app, run, client):
    assert run("seed-demo", "--evaluations", "0", "--symbol-sets", "4").exit_code == 0
    with app.app_context():
        project_id = demo_project().id
        [uploaded, *_] = [row for row in sets_by_ref(project_id).values() if row.status == "uploaded"]
        set_id = uploaded.id
        ref = uploaded.ref
        with get_storage().open(uploaded.storage_ptr) as stream:
            stored = stream.read()
        _, raw_key = api_keys.create_key(accounts.find_user_by_email(demo.DEMO_EMAIL), "t", "*")
    base = f"/api/environments/{project_id}/error_tracking/symbol_sets"
    headers = {"Authorization": f"Bearer {raw_key}"}

    # Seeded releases are assigned at random, so look the set up by its own ref.
    found = client.get(base, query_string={"search": ref[:12], "status": "valid"}, headers=headers)
    assert found.status_code == 200
    assert str(set_id) in [item["id"] for item in found.json["results"]]
    url = client.get(f"{base}/{set_id}/download", headers=headers).json["url"]
    downloaded = client.get(url.removeprefix("http://localhost"))
    assert downloaded.status_code == 200
    assert downloaded.data == stored


def test_seed_demo_again_adds_more_sets_and_keeps_the_releases(app, run):
    assert run("seed-demo", "--evaluations", "0", "--symbol-sets", "5").exit_code == 0
    result = run("seed-demo", "--evaluations", "0", "--symbol-sets", "5")

    assert result.exit_code == 0, result.output
    with app.app_context():
        assert len(db.session.scalars(select(SymbolSet.id)).all()) == 10
        assert len(db.session.scalars(select(Release.id)).all()) == 2


def test_seed_demo_without_symbol_sets(app, run):
    result = run("seed-demo", "--evaluations", "1", "--symbol-sets", "0")

    assert result.exit_code == 0, result.output
    assert "symbol sets" not in result.stdout
    with app.app_context():
        assert db.session.scalars(select(SymbolSet.id)).all() == []
        assert db.session.scalars(select(Release.id)).all() == []


def test_seed_demo_if_empty_includes_symbol_sets_for_make_run(app, run):
    result = run("seed-demo", "--if-empty")

    assert result.exit_code == 0, result.output
    with app.app_context():
        counts = symbol_sets.status_counts(demo_project())
        assert counts["all"] == demo.DEFAULT_SYMBOL_SETS
        assert counts["uploaded"] and counts["pending"] and counts["failed"]
        reasons = [
            row.failure_reason for row in sets_by_ref(demo_project().id).values() if row.failure_reason
        ]
        # PostHog's JSON form, one of our own checks, and an expired upload.
        assert any(reason.startswith('{"JavaScript"') for reason in reasons)
        assert "The source map is not valid JSON (Expecting value at line 1)." in reasons
        assert any("never finished" in reason for reason in reasons)


@pytest.mark.parametrize("count", ["-1", str(demo.MAX_SYMBOL_SETS + 1)])
def test_seed_demo_refuses_a_bad_symbol_set_count(run, count):
    result = run("seed-demo", "--symbol-sets", count)

    assert_clean_error(result, "Invalid value for '--symbol-sets'", exit_code=2)


def test_expire_pending_also_removes_partial_files_of_crashed_uploads(app, run):
    with app.app_context():
        root = get_storage().root
    folder = os.path.join(root, "symbol_sets", "crashed")
    os.makedirs(folder, exist_ok=True)
    old, recent = os.path.join(folder, ".a.111.part"), os.path.join(folder, ".b.222.part")
    for path in (old, recent):
        with open(path, "wb") as partial:
            partial.write(b"half")
    two_hours_ago = time.time() - 2 * 3600
    os.utime(old, (two_hours_ago, two_hours_ago))

    result = run("symbol-sets", "expire-pending")

    assert result.exit_code == 0, result.output
    assert "Removed 1 partial object left by interrupted uploads." in result.stdout
    assert not os.path.exists(old) and os.path.exists(recent)
    os.unlink(recent)


def test_expire_pending_removes_what_dead_upload_urls_wrote(app, run, project_id):
    live_key = symbol_sets.new_staging_key(project_id, "live-set")
    orphan = symbol_sets.new_staging_key(project_id, "deleted-set")
    with app.app_context():
        add_sets(project_id, live={"upload_key": live_key, "upload_started_at": utcnow()})
        storage = get_storage()
        for key in (orphan, live_key):
            storage.put(key, io.BytesIO(b"bytes"), 100)
    an_hour_ago = time.time() - 3600
    for key in (orphan, live_key):
        os.utime(os.path.join(storage.root, key), (an_hour_ago, an_hour_ago))

    result = run("symbol-sets", "expire-pending")

    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "No pending uploads have expired.\nRemoved 1 orphaned upload object no pending upload uses.\n"
    )
    assert storage.head(orphan) is None
    assert storage.head(live_key) is not None  # its upload is live: the URL may still be finished
