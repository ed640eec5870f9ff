"""Tell an outage (the database or the object store is down, full or busy for now) from a bug."""

import sqlite3

from sqlalchemy import exc

from .storage.base import ObjectNotFound, ObjectTooLarge, StorageError

# SQLite's primary result codes for a database that is busy, full, read-only or failing underneath:
# the same request can succeed later. Anything else (no such table, a constraint) is a bug.
SQLITE_UNAVAILABLE = {
    sqlite3.SQLITE_BUSY,  # "database is locked" after the busy timeout
    sqlite3.SQLITE_LOCKED,
    sqlite3.SQLITE_NOMEM,
    sqlite3.SQLITE_READONLY,
    sqlite3.SQLITE_IOERR,  # "disk I/O error"
    sqlite3.SQLITE_FULL,  # "database or disk is full"
    sqlite3.SQLITE_CANTOPEN,
    sqlite3.SQLITE_PROTOCOL,
}


def is_unavailable(error: BaseException) -> bool:
    """Whether the error means a backing service is unavailable, so the client should retry later."""
    if isinstance(error, StorageError):
        # A missing object or an oversize stream is an answer, not an outage; callers turn them into 4xx.
        return not isinstance(error, (ObjectNotFound, ObjectTooLarge))
    if isinstance(error, (exc.TimeoutError, exc.DisconnectionError)):
        return True  # the pool had no connection to give, or lost the one it had
    if not isinstance(error, exc.DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    if isinstance(error.orig, sqlite3.Error):
        return (getattr(error.orig, "sqlite_errorcode", 0) & 0xFF) in SQLITE_UNAVAILABLE
    # PostgreSQL (psycopg): refused or lost connections, shutdowns, a full disk, too many clients;
    # its programming errors are ProgrammingError / IntegrityError / DataError instead.
    return isinstance(error, (exc.OperationalError, exc.InterfaceError))


def describe(error: BaseException) -> str:
    """The error for the log, without the SQL parameters SQLAlchemy's message shows (they may be secrets)."""
    cause = error.orig if isinstance(error, exc.DBAPIError) and error.orig is not None else error
    return f"{type(cause).__name__}: {str(cause).strip()}"
