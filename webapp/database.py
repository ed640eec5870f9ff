"""Engine tuning, write transactions, and the tools every write path uses against races.

Writers that may race follow one recipe: insert with `insert_or_ignore` (ON CONFLICT DO NOTHING), lock
the rows they change in one fixed order, and run under `retry_on_contention`, which runs the write again
when it lost a race anyway and answers `Contended` (409 with Retry-After) when it keeps losing.
"""

import functools
import logging
import random
import select
import sqlite3
import time
from contextlib import contextmanager

from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.dml import Insert

from .availability import describe
from .extensions import db
from .services.errors import Contended

WRITE_ATTEMPTS = 4
RETRY_BACKOFF_SECONDS = 0.05
# PostgreSQL errors of a transaction that lost a race and may simply run again.
RETRYABLE_SQLSTATES = {
    "40P01",  # deadlock_detected
    "40001",  # serialization_failure
    "55P03",  # lock_not_available
    "23505",  # unique_violation: another transaction inserted the same key first
}
# SQLite: BEGIN IMMEDIATE keeps writers in line, so only a unique key can be lost to another writer. Its
# "database is locked" comes after the busy timeout, already waited out: an outage (503, availability.py).
RETRYABLE_SQLITE_CODES = {sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY}

logger = logging.getLogger(__name__)


SQLITE_MMAP_BYTES = 1 << 30


def configure_engine(engine: Engine, busy_timeout_ms: int) -> None:
    """Make SQLite safe for concurrent writers: WAL, a busy timeout, BEGIN IMMEDIATE for writes. PostgreSQL:
    a pool pre-ping without a round trip."""
    if engine.dialect.name == "postgresql":
        _ping_by_socket(engine.dialect)
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record):
        # Let SQLAlchemy's "begin" event below issue BEGIN, not pysqlite's implicit one.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Read pages through a memory map instead of a read() into the small page cache each: a search
        # that looks up thousands of rows by key takes about half the time.
        cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection):
        # A deferred transaction that read first cannot upgrade to a writer once another
        # worker has committed ("database is locked"); writers take the lock up front.
        immediate = connection.get_execution_options().get("sqlite_write")
        begin_sqlite(connection.connection.driver_connection, immediate)


def _ping_by_socket(dialect) -> None:
    """Answer the pool's pre-ping of an idle PostgreSQL connection from its socket, without a round trip.

    Every request checks a connection out of the pool, and the pre-ping's SELECT 1 cost a round trip each
    time. A server that ended a connection (a restart, pg_terminate_backend, an idle timeout) has sent its
    reason and closed the socket, which then reads as ready; a live idle connection has nothing to read. Only
    then is the dialect's own ping sent: it fails as it did, and the pool replaces the connection.
    """
    ping = dialect.do_ping

    def do_ping(dbapi_connection) -> bool:
        if dbapi_connection.closed or dbapi_connection.broken:
            return ping(dbapi_connection)
        # poll, not select: select refuses descriptors past 1023, which a busy worker can reach.
        poller = select.poll()
        poller.register(dbapi_connection.pgconn.socket, select.POLLIN)
        return ping(dbapi_connection) if poller.poll(0) else True

    dialect.do_ping = do_ping


def begin_sqlite(driver_connection: sqlite3.Connection, immediate: bool) -> None:
    """BEGIN (IMMEDIATE: a writer's) on SQLite's own connection, whose implicit transactions are off.

    On the driver's connection: every request begins a transaction, and SQLAlchemy's statement machinery
    costs far more than the BEGIN. Its errors are wrapped as that machinery would wrap them, so a database
    locked past the busy timeout is still an outage (availability.py).
    """
    statement = "BEGIN IMMEDIATE" if immediate else "BEGIN"
    try:
        driver_connection.execute(statement)
    except sqlite3.Error as error:
        raise DBAPIError.instance(statement, (), error, sqlite3.Error) from error


@contextmanager
def write_transaction():
    """Run the block as one write transaction; commit on success, roll back on error."""
    session = db.session()
    if session.in_transaction():
        # End the request's read snapshot so the write starts from the newest data.
        session.commit()
    session.connection(execution_options={"sqlite_write": True})
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise


def insert_or_ignore(session, model, conflict_columns: list[str]) -> Insert:
    """INSERT ... ON CONFLICT (conflict_columns) DO NOTHING, in the session's dialect."""
    dialect = {"postgresql": postgresql, "sqlite": sqlite}[session.get_bind().dialect.name]
    return dialect.insert(model).on_conflict_do_nothing(index_elements=conflict_columns)


class LostRace(Exception):
    """Raise inside a retried write when rows it needs changed under it: the write runs again."""


def is_contention(error: BaseException) -> bool:
    """Whether the error means another transaction won a race for the same rows: run the write again."""
    if isinstance(error, LostRace):
        return True
    if not isinstance(error, DBAPIError):
        return False
    sqlstate = getattr(error.orig, "sqlstate", None)
    if sqlstate is not None:
        return sqlstate in RETRYABLE_SQLSTATES
    return getattr(error.orig, "sqlite_errorcode", None) in RETRYABLE_SQLITE_CODES


def retry_on_contention(function):
    """Run a write again when it lost a race, a bounded number of times; then raise Contended.

    The wrapped function must be safe to run again from the start: its database work is one
    write_transaction (rolled back when it lost), and nothing outside the database happens before it.
    """

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        attempt = 1
        while True:
            try:
                return function(*args, **kwargs)
            except (DBAPIError, LostRace) as error:
                if not is_contention(error):
                    raise
                if attempt == WRITE_ATTEMPTS:
                    logger.warning(
                        "%s still contended after %d attempts: %s",
                        function.__name__,
                        attempt,
                        describe(error),
                    )
                    raise Contended() from error
            # Random backoff: writers that collided once should not collide again in step.
            time.sleep(random.uniform(0, RETRY_BACKOFF_SECONDS * 2**attempt))
            attempt += 1

    return wrapper
