"""Engine tuning: SQLite shared by several gunicorn workers, and write transactions."""

from contextlib import contextmanager

from sqlalchemy import event
from sqlalchemy.engine import Engine

from .extensions import db


def configure_engine(engine: Engine, busy_timeout_ms: int) -> None:
    """Make SQLite safe for concurrent writers: WAL, a busy timeout, BEGIN IMMEDIATE for writes."""
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
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection):
        # A deferred transaction that read first cannot upgrade to a writer once another
        # worker has committed ("database is locked"); writers take the lock up front.
        immediate = connection.get_execution_options().get("sqlite_write")
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


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
