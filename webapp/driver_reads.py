"""Read statements run on the database driver's own connection and cursor: the hot path of API reads.

A list request runs three small statements (the key lookup, the count, the page). Through SQLAlchemy each
execution costs about 180 k instructions (cache key, execution context, result object) and the ORM session's
begin and close about 300 k more: more than the database's own work for a small page. Here a Core statement
is compiled once per dialect to its SQL text and parameter order; a call only binds its values and runs the
driver's cursor. The values sent and read are still SQLAlchemy's: its bind and result processors (and its
expansion of an `IN` list), so a row is what Connection.execute would give, as a plain tuple.

One read transaction per request, as through the session: the first read checks a connection out of the
engine's pool (pre-ping included) and begins; the request's later reads use it; the request's end rolls it
back into the pool. On PostgreSQL under READ COMMITTED (its default, and ours) every statement reads a
snapshot of its own, in a transaction or not: there the reads run in autocommit, which spares the BEGIN and
ROLLBACK round trips and changes nothing they see.

Reads while the ORM session is in a transaction run on the session's connection (the same snapshot as the
ORM's reads), and when the session begins one (a write, or a view reading objects) the held read connection
goes back first: a request never holds two connections, and a write starts from the newest data, as
write_transaction does for the session's own reads.

Errors are SQLAlchemy's (DBAPIError.instance, a lost connection invalidated): an outage still answers 503
(availability.py). The engine's `before_cursor_execute` listeners are called as SQLAlchemy calls them (the
tests count statements with one).
"""

import threading

from flask import g, has_app_context
from sqlalchemy import event
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Executable

from .database import begin_sqlite
from .extensions import db

# The request's read connection, as an attribute of the app context's g.
HELD = "_driver_read"
# Compiled statements kept (a list keeps up to listing.MAX_STATEMENTS per spec); past that the oldest goes.
MAX_PREPARED = 1024


class Prepared:
    """A statement compiled for one dialect: its SQL text, and how a call's values become the driver's."""

    def __init__(self, statement: Executable, dialect: Dialect):
        compiled = self.compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        self.processors = compiled._bind_processors
        # An `IN` list is rendered per call, as SQLAlchemy renders it (one placeholder per value).
        self.expands = bool(compiled.literal_execute_params or compiled.post_compile_params)
        self.escaped = compiled.escaped_bind_names
        self.types = [column.type for column in statement.selected_columns]
        self.results = None  # the columns' result processors, known at the first execution

    def bind(self, values: dict) -> tuple[str, list | dict]:
        """The SQL text and the driver's parameters for these values (DefaultExecutionContext's way)."""
        compiled, processors = self.compiled, self.processors
        params = compiled.construct_params(values, escape_names=False)
        sql, order = self.sql, compiled.positiontup
        if self.expands:
            expanded = compiled._process_parameters_for_postcompile(params)
            sql, order = expanded.statement, expanded.positiontup
            processors = {**processors, **expanded.processors}
        if compiled.positional:
            return sql, [
                processors[name](params[name]) if name in processors else params[name] for name in order
            ]
        escaped = self.escaped
        return sql, {
            escaped.get(name, name): processors[name](value) if name in processors else value
            for name, value in params.items()
        }

    def read(self, cursor, dialect: Dialect) -> list:
        """The cursor's rows, each value through its column's result processor (none for most columns)."""
        if self.results is None:
            processors = (
                (index, kind._cached_result_processor(dialect, described[1]))
                for index, (kind, described) in enumerate(zip(self.types, cursor.description, strict=True))
            )
            self.results = [(index, process) for index, process in processors if process is not None]
        rows = cursor.fetchall()
        if not self.results:
            return rows
        processed = []
        for row in rows:
            values = list(row)
            for index, process in self.results:
                values[index] = process(values[index])
            processed.append(tuple(values))
        return processed


_prepared: dict = {}
_preparing = threading.Lock()


def prepared(statement: Executable, dialect: Dialect) -> Prepared:
    """The statement compiled for `dialect`, compiled on first use (statements are built once per shape)."""
    cache_key = (statement, dialect)
    found = _prepared.get(cache_key)
    if found is None:
        found = Prepared(statement, dialect)
        # Only a first use takes the lock: evicting while another thread inserts would break the iteration.
        with _preparing:
            if len(_prepared) >= MAX_PREPARED:
                _prepared.pop(next(iter(_prepared)), None)
            _prepared[cache_key] = found
    return found


class Reader:
    """A driver connection to read on: the request's own (`pooled`, returned by end()) or the session's."""

    def __init__(self, engine: Engine, driver_connection, pooled=None):
        self.engine, self.dialect, self.driver = engine, engine.dialect, driver_connection
        self.pooled = pooled
        self.autocommit = False

    @classmethod
    def check_out(cls, engine: Engine) -> "Reader":
        """A connection from the pool, in a read transaction (or in autocommit: see the module's doc)."""
        dialect = engine.dialect
        try:
            pooled = engine.raw_connection()
        except dialect.loaded_dbapi.Error as error:
            raise _wrapped(error, None, None, dialect) from error
        reader = cls(engine, pooled.driver_connection, pooled)
        try:
            if dialect.name == "sqlite":
                begin_sqlite(reader.driver, immediate=False)
            elif _reads_committed(dialect, reader.driver):
                reader.driver.autocommit = reader.autocommit = True
        except BaseException:
            reader.close()
            raise
        return reader

    def rows(self, statement: Executable, values: dict) -> list:
        """The statement's rows for these values, as tuples."""
        dialect = self.dialect
        query = prepared(statement, dialect)
        sql, params = query.bind(values)
        cursor = self.driver.cursor()
        try:
            if self.engine.dispatch.before_cursor_execute:
                self.engine.dispatch.before_cursor_execute(None, cursor, sql, params, None, False)
            cursor.execute(sql, params)
            return query.read(cursor, dialect)
        except dialect.loaded_dbapi.Error as error:
            wrapped = _wrapped(error, sql, params, dialect)
            if wrapped.connection_invalidated and self.pooled is not None:
                self.pooled.invalidate(error)
            raise wrapped from error
        finally:
            cursor.close()

    def close(self) -> None:
        if self.pooled is None:
            return
        if self.autocommit and self.pooled.is_valid:
            try:
                self.driver.autocommit = False  # as the pool hands connections out
            except self.dialect.loaded_dbapi.Error as error:
                self.pooled.invalidate(error)
        self.pooled.close()  # back to the pool, which rolls a read transaction back


def _reads_committed(dialect: Dialect, driver_connection) -> bool:
    """Whether the connection reads at PostgreSQL's READ COMMITTED: its own level, else the server's."""
    level = driver_connection.isolation_level  # psycopg's; None: the server's default
    name = dialect.default_isolation_level if level is None else level.name.replace("_", " ")
    return name == "READ COMMITTED"


def _wrapped(error: Exception, sql, params, dialect: Dialect) -> DBAPIError:
    """The driver's error as SQLAlchemy raises it, a lost connection marked as such."""
    return DBAPIError.instance(
        sql,
        params,
        error,
        dialect.loaded_dbapi.Error,
        hide_parameters=True,
        connection_invalidated=dialect.is_disconnect(error, None, None),
        dialect=dialect,
    )


def reader() -> Reader:
    """Where this request reads: the ORM session's connection while it is in a transaction, else the
    request's own read connection (checked out on first use)."""
    found = g._get_current_object()
    held = found.__dict__.get(HELD)
    if held is not None:
        return held
    if db.session.registry.has():
        session = db.session()
        if session.in_transaction():
            connection = session.connection()
            return Reader(connection.engine, connection.connection.driver_connection)
    held = Reader.check_out(db.engine)
    setattr(found, HELD, held)
    return held


def rows(statement: Executable, values: dict) -> list:
    """The statement's rows (tuples) for these values, read in the request's read transaction."""
    return reader().rows(statement, values)


def end(_error: BaseException | None = None) -> None:
    """End the request's read transaction, if it holds one: its connection goes back to the pool."""
    if has_app_context():
        held = g._get_current_object().__dict__.pop(HELD, None)
        if held is not None:
            held.close()


@event.listens_for(db.session, "after_transaction_create")
def _session_begins(_session, transaction) -> None:
    """The ORM session starts its transaction: give the held read connection back first."""
    if transaction.parent is None:
        end()


def init_app(app) -> None:
    # With the ORM session's lifetime (Flask-SQLAlchemy removes it when the app context ends).
    app.teardown_appcontext(end)
