"""Several workers writing at once: no "database is locked", no lost update, never a 500."""

import io
import uuid
from datetime import timedelta
from urllib.parse import urlsplit

import psycopg
import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError, OperationalError

from webapp.database import WRITE_ATTEMPTS, retry_on_contention, write_transaction
from webapp.extensions import db
from webapp.models import ActivityLog, Evaluation, Release, SymbolSet
from webapp.models.types import utcnow
from webapp.services import (
    accounts,
    evaluations,
    symbol_sets,
    symbol_upload_checks,
    symbol_upload_expiry,
    symbol_uploads,
)
from webapp.services.errors import Contended

from .conftest import race
from .symbol_blobs import cli_blob, sha512

WORKERS = 4
UPDATES_EACH = 10


def test_concurrent_updates_all_land(app, user_id, project_id):
    with app.app_context():
        user = accounts.get_user(user_id)
        project = accounts.resolve_project(user, project_id)
        evaluation_id = evaluations.create_evaluation(project, user, {"name": "n", "prompt": "p"}).id
        db.session.remove()

    def update(number, project, user):
        for step in range(UPDATES_EACH):
            # Each write reads the row first: a deferred SQLite transaction or an
            # unlocked PostgreSQL read would lose updates or fail with "locked".
            evaluations.update_evaluation(
                project, user, evaluation_id, {"description": f"worker {number} step {step}"}
            )

    errors = race(app, user_id, project_id, WORKERS, update)
    assert errors == []
    with app.app_context():
        evaluation = db.session.scalar(db.select(Evaluation).where(Evaluation.id == evaluation_id))
        assert evaluation.version == 1 + WORKERS * UPDATES_EACH
        updates = db.session.scalar(
            db.select(db.func.count(ActivityLog.id)).where(ActivityLog.activity == "updated")
        )
        assert updates == WORKERS * UPDATES_EACH


# --- losing a race: retried, then a 409 that says when to try again -------------------------


def _release(project_id, hash_id, version="1.0.0"):
    return Release(project_id=project_id, hash_id=hash_id, version=version, project_name="web")


def test_a_write_that_lost_a_race_runs_again(app_context, project_id):
    attempts = []

    @retry_on_contention
    def create():
        attempts.append(1)
        with write_transaction() as session:
            session.add(_release(project_id, "taken"))
            if len(attempts) == 1:
                # As if another transaction had inserted the same key first: a real unique violation.
                session.add(_release(project_id, "taken"))
            session.flush()

    create()
    assert len(attempts) == 2
    assert db.session.scalar(select(func.count()).select_from(Release)) == 1


def test_a_write_that_keeps_losing_is_contended_after_a_bounded_number_of_tries(app_context, project_id):
    attempts = []

    @retry_on_contention
    def create():
        attempts.append(1)
        with write_transaction() as session:
            session.add_all([_release(project_id, "taken"), _release(project_id, "taken")])

    with pytest.raises(Contended):
        create()
    assert len(attempts) == WRITE_ATTEMPTS
    assert db.session.scalar(select(func.count()).select_from(Release)) == 0


def test_an_error_that_is_not_a_race_is_not_retried(app_context, project_id):
    attempts = []

    @retry_on_contention
    def create():
        attempts.append(1)
        with write_transaction() as session:
            session.add(_release(project_id, "x", version=None))  # NOT NULL: a bug, not a race

    with pytest.raises(IntegrityError):
        create()
    assert len(attempts) == 1


@pytest.fixture
def sets_vanish_after_insert(monkeypatch):
    """Every start loses its race: the sets it inserted are gone before it can lock them."""
    insert = symbol_uploads._insert_missing

    def insert_then_lose(session, project, request):
        created = insert(session, project, request)
        session.execute(delete(SymbolSet).where(SymbolSet.ref.in_(symbol_uploads._refs(request))))
        return created

    monkeypatch.setattr(symbol_uploads, "_insert_missing", insert_then_lose)
    monkeypatch.setattr("webapp.database.RETRY_BACKOFF_SECONDS", 0)


def test_a_start_that_keeps_losing_answers_409_with_retry_after(
    app, client, auth, project_id, sets_vanish_after_insert
):
    response = client.post(
        f"/api/projects/{project_id}/error_tracking/symbol_sets/bulk_start_upload/",
        headers=auth,
        json={"symbol_sets": [{"chunk_id": "a"}, {"chunk_id": "b"}]},
    )
    assert response.status_code == 409
    assert response.headers["Retry-After"] == "1"
    body = response.get_json()
    assert set(body) == {"type", "code", "detail", "attr"}
    assert (body["type"], body["code"]) == ("invalid_request", "contended")
    assert "try again" in body["detail"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(SymbolSet)) == 0


@pytest.mark.parametrize(
    "original",
    [
        pytest.param(psycopg.errors.DeadlockDetected("deadlock detected"), id="postgresql-deadlock"),
        pytest.param(
            psycopg.errors.SerializationFailure("could not serialize"), id="postgresql-serialization"
        ),
    ],
)
def test_a_contended_write_without_its_own_retry_is_a_409_not_a_500(
    client, auth, project_id, logged_in, monkeypatch, original
):
    def contended(*_args, **_kwargs):
        raise OperationalError("UPDATE ...", {}, original)

    monkeypatch.setattr(evaluations, "create_evaluation", contended)
    response = client.post(
        f"/api/projects/{project_id}/evaluations/", headers=auth, json={"name": "n", "prompt": "p"}
    )
    assert response.status_code == 409
    assert response.headers["Retry-After"] == "1"
    assert response.get_json()["code"] == "contended"

    monkeypatch.setattr(symbol_sets, "delete_symbol_sets", contended)
    response = client.post(
        f"/project/{project_id}/symbol-sets/bulk-delete",
        data={"csrf_token": logged_in, "ids": [str(uuid.uuid4())], "confirmed": "1"},
    )
    assert response.status_code == 409
    assert response.headers["Retry-After"] == "1"
    assert "try again in a moment" in response.get_data(as_text=True)


# --- other write paths, raced in-process on the test database -------------------------------


def test_recorded_failures_racing_starts_on_a_new_ref_make_one_set(app, user_id, project_id):
    refs = ["shared-b", "shared-a"]

    def act(number, project, user):
        if number % 2:
            symbol_sets.mark_failed(project, refs[number % 4 // 2], "The symbolicator could not read it.")
        else:
            symbol_uploads.start_uploads(project, user, {"symbol_sets": [{"chunk_id": ref} for ref in refs]})

    assert race(app, user_id, project_id, 8, act) == []
    with app.app_context():
        counts = db.session.execute(select(SymbolSet.ref, func.count()).group_by(SymbolSet.ref)).all()
        assert sorted(counts) == [("shared-a", 1), ("shared-b", 1)]


def test_expiry_racing_finishes_ends_the_upload_exactly_once(app, client, auth, user_id, project_id):
    data = cli_blob("late")
    started = client.post(
        f"/api/projects/{project_id}/error_tracking/symbol_sets/bulk_start_upload/",
        headers=auth,
        json={"symbol_sets": [{"chunk_id": "late", "content_hash": sha512(data)}]},
    )
    issued = started.get_json()["id_map"]["late"]
    presigned = issued["presigned_url"]
    uploaded = client.post(
        urlsplit(presigned["url"]).path,
        data={**presigned["fields"], "file": (io.BytesIO(data), "file")},
        content_type="multipart/form-data",
    )
    assert uploaded.status_code == 204
    later = utcnow() + timedelta(hours=1)  # the URL has long expired: expiry would end this upload
    finished, expired, refused = [], [], []

    def act(number, project, user):
        if number % 2:
            expired.append(symbol_upload_expiry.expire_pending(now=later))
            return
        try:
            symbol_upload_checks.finish_uploads(
                project, user, {"content_hashes": {issued["symbol_set_id"]: sha512(data)}}
            )
            finished.append(number)
        except symbol_uploads.UploadError as error:
            refused.append(error.code)  # a clear 400 for every finish that lost

    assert race(app, user_id, project_id, 6, act) == []
    assert set(refused) <= {"file_not_found"}
    with app.app_context():
        row = db.session.scalar(select(SymbolSet))
        if finished:
            # A finish won: its checked bytes are the file; the expiry found nothing left to end.
            assert (len(finished), sum(expired)) == (1, 0)
            assert (row.status, row.content_hash) == ("uploaded", sha512(data))
        else:
            # The expiry won: the set says so, and every finish was told.
            assert (sum(expired), len(refused)) == (1, 3)
            assert row.status == "failed" and "never finished" in row.failure_reason


def test_bulk_actions_in_different_orders_racing_single_updates(app, user_id, project_id):
    with app.app_context():
        user = accounts.get_user(user_id)
        project = accounts.resolve_project(user, project_id)
        ids = [
            str(evaluations.create_evaluation(project, user, {"name": f"e{n}", "prompt": "p"}).id)
            for n in range(6)
        ]
        db.session.remove()
    actions = ["disable", "enable", "archive", "restore"]

    def act(number, project, user):
        order = ids[number % len(ids) :] + ids[: number % len(ids)]
        if number % 3 == 2:
            evaluations.update_evaluation(project, user, order[0], {"description": f"by {number}"})
        else:
            evaluations.bulk_update(project, user, order[:: 1 if number % 2 else -1], actions[number % 4])

    assert race(app, user_id, project_id, 12, act) == []
    with app.app_context():
        # Every change that happened is logged once: no lost update, no double count.
        changes = db.session.scalar(
            select(func.count(ActivityLog.id)).where(
                ActivityLog.activity.in_(["updated", "deleted", "restored"])
            )
        )
        versions = db.session.scalar(select(func.sum(Evaluation.version)))
        assert versions == len(ids) + changes


@pytest.fixture
def deleted_by_another_request(app, monkeypatch):
    """Make symbol_sets.<name> run next to a delete of every set from another session (another request)."""

    def delete_elsewhere():
        with app.app_context():  # a session and connection of its own
            db.session.execute(delete(SymbolSet))
            db.session.commit()

    def patch(name, *, after: bool = False):
        original = getattr(symbol_sets, name)

        def racing(*args):
            if not after:
                delete_elsewhere()
            result = original(*args)
            if after:
                delete_elsewhere()
            return result

        monkeypatch.setattr(symbol_sets, name, racing)

    return patch


def _uploaded_set(app, project_id) -> str:
    with app.app_context():
        row = SymbolSet(
            project_id=project_id, ref="gone", storage_ptr="symbol_sets/x/gone", content_hash="a" * 128
        )
        db.session.add(row)
        db.session.commit()
        return str(row.id)


def test_a_row_delete_that_lost_to_another_delete_still_answers(
    app, client, logged_in, project_id, deleted_by_another_request
):
    set_id = _uploaded_set(app, project_id)
    deleted_by_another_request("delete_symbol_set")
    response = client.post(
        f"/project/{project_id}/symbol-sets/{set_id}/delete", data={"csrf_token": logged_in, "confirmed": "1"}
    )
    assert response.status_code == 303
    assert "Deleted the symbol set gone." in client.get(response.headers["Location"]).get_data(as_text=True)


def test_a_download_of_a_set_deleted_meanwhile_is_404(
    app, client, auth, project_id, deleted_by_another_request
):
    set_id = _uploaded_set(app, project_id)
    deleted_by_another_request("get_symbol_set", after=True)  # read it, then it is gone
    response = client.get(
        f"/api/projects/{project_id}/error_tracking/symbol_sets/{set_id}/download/", headers=auth
    )
    assert response.status_code == 404
    assert response.get_json()["code"] == "not_found"
