"""Reads on the driver's cursor (webapp/driver_reads.py): SQLAlchemy's values, its errors, one transaction
and never two connections per request."""

import pytest
from sqlalchemy import bindparam, column, event, select, table
from sqlalchemy.exc import DBAPIError

from webapp import driver_reads
from webapp.extensions import db
from webapp.models import PersonalAPIKey
from webapp.services import api_keys


def lookup_values(raw_key: str, project_id: int) -> dict:
    return {"secure_value": api_keys.hash_key(raw_key), "project_id": project_id}


def test_rows_are_what_sqlalchemy_gives(app, api_key, project_id):
    """Uuids, JSON, datetimes and booleans through SQLAlchemy's own processors, on either database."""
    statement = api_keys.LOOKUPS[True]
    values = lookup_values(api_key, project_id)
    with app.app_context():
        (ours,) = driver_reads.rows(statement, values)
        driver_reads.end()
        (theirs,) = db.session.connection().execute(statement, values).all()
        db.session.remove()
    assert ours == tuple(theirs)
    assert [type(value) for value in ours] == [type(value) for value in theirs]
    assert isinstance(ours[2], list)  # the key's scopes: JSON read as SQLAlchemy reads it


def test_an_in_list_is_expanded_per_call(app, project_id, make_key, user_id):
    keys = PersonalAPIKey.__table__
    statement = select(keys.c.label).where(keys.c.id.in_(bindparam("ids", expanding=True)))
    made = [make_key(user_id, label=f"key {n}") for n in range(3)]
    with app.app_context():
        ids = [
            row[0]
            for raw in made
            for row in driver_reads.rows(api_keys.LOOKUPS[False], lookup_values(raw, project_id))
        ]
        labels = {
            count: sorted(label for (label,) in driver_reads.rows(statement, {"ids": ids[:count]}))
            for count in (1, 3)
        }
        driver_reads.end()
    assert labels == {1: ["key 0"], 3: ["key 0", "key 1", "key 2"]}


def test_a_database_error_is_sqlalchemys(app):
    missing = select(column("x")).select_from(table("no_such_table"))
    with app.app_context():
        with pytest.raises(DBAPIError) as raised:
            driver_reads.rows(missing, {})
        driver_reads.end()
    assert "no_such_table" in str(raised.value.orig)


def test_reads_in_a_session_transaction_use_its_connection(app, api_key, project_id):
    with app.app_context():
        connection = db.session.connection()
        reader = driver_reads.reader()
        assert reader.pooled is None
        assert reader.driver is connection.connection.driver_connection
        db.session.remove()


def test_sqlite_reads_in_a_transaction_postgresql_in_autocommit(app):
    """SQLite: the request's reads share one snapshot. PostgreSQL (READ COMMITTED): each statement reads its
    own snapshot anyway, so no BEGIN or ROLLBACK is sent; the pool gets its connection back as it gave it."""
    with app.app_context():
        reader = driver_reads.reader()
        driver = reader.driver
        if reader.dialect.name == "sqlite":
            assert driver.in_transaction
        else:
            assert driver.autocommit
            driver_reads.rows(select(column("id")).select_from(table("users")), {})
            assert driver.info.transaction_status == driver.info.transaction_status.IDLE
        driver_reads.end()
        assert not driver.autocommit if reader.dialect.name == "postgresql" else not driver.in_transaction


@pytest.fixture
def checked_out(app):
    """The most connections checked out of the app's pool at once during the block."""
    counts = {"now": 0, "most": 0}

    def checkout(*_args):
        counts["now"] += 1
        counts["most"] = max(counts["most"], counts["now"])

    def checkin(*_args):
        counts["now"] -= 1

    with app.app_context():
        pool = db.engine.pool
    event.listen(pool, "checkout", checkout)
    event.listen(pool, "checkin", checkin)
    yield counts
    event.remove(pool, "checkout", checkout)
    event.remove(pool, "checkin", checkin)


def test_a_request_holds_one_connection_even_when_it_writes(
    app, client, auth, project_id, checked_out, monkeypatch
):
    """With every use touching the key (last_used_at), a list writes between its key lookup and its page."""
    monkeypatch.setitem(app.config, "API_KEY_TOUCH_INTERVAL_SECONDS", 0)
    url = f"/api/projects/{project_id}/evaluations/"
    assert client.get(url, headers=auth).status_code == 200
    assert client.post(url, json={"name": "n", "prompt": "p"}, headers=auth).status_code == 201
    listed = client.get(url, headers=auth)
    assert listed.status_code == 200 and listed.get_json()["count"] == 1
    assert checked_out["most"] == 1
    assert checked_out["now"] == 0  # each request gave its connection back
