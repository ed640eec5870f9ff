"""Symbol sets: listing, counts, download, deletion and recorded failures (uploads: symbol_uploads).

Storage calls never happen inside a database transaction: objects are deleted after their rows are.
"""

import re
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from pydantic import ConfigDict, Field
from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    case,
    func,
    literal_column,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.orm import selectinload

from ..database import LostRace, insert_or_ignore, retry_on_contention, write_transaction
from ..extensions import db
from ..models import Project, Release, SymbolSet, User
from ..models.types import utcnow
from ..storage import get_storage
from ..storage.base import StorageError
from . import activity, inputs, search
from .errors import NotFound, ValidationError
from .listing import TEXT, ListQuery, ListSpec, Page, choice, paginate, uuid_text
from .validation import UUID_PATTERN, clean_text, parse_uuid, text_problem

SCOPE = "SymbolSet"
DOWNLOAD_URL_SECONDS = 300
MAX_REF_LENGTH = 400
STATUSES = ("all", "valid", "invalid", "uploaded", "pending", "failed")

# --- reading ------------------------------------------------------------------------------


SYMBOL_SETS, RELEASES = SymbolSet.__table__, Release.__table__


def _status_clauses() -> dict[str, ColumnElement[bool]]:
    """Each status filter's clause (all: none)."""
    failed = SYMBOL_SETS.c.failure_reason.is_not(None)
    uploaded = and_(SYMBOL_SETS.c.failure_reason.is_(None), SYMBOL_SETS.c.content_hash.is_not(None))
    pending = and_(SYMBOL_SETS.c.failure_reason.is_(None), SYMBOL_SETS.c.content_hash.is_(None))
    return {
        "valid": uploaded,
        "uploaded": uploaded,
        "invalid": or_(failed, pending),
        "failed": failed,
        "pending": pending,
    }


def _search(term: str, dialect: str) -> search.Search:
    """Every word of `term` is in the ref, or in its release's version or project (see services.search).

    Each word is `pk IN (sets whose ref matches UNION ALL sets of matching releases)`: an OR of the two
    would make both databases give up the ref's trigram index and scan every set. Parameters per word n:
    `search_ref_<n>` (SQLite, 3+ characters: an FTS5 phrase) or `search_like_<n>` (a LIKE pattern).
    """
    sqlite = dialect == "sqlite"
    word_list = search.words(term)
    # SQLite's trigram index answers words of 3+ characters: those come first.
    indexed = [word for word in word_list if sqlite and len(word) >= search.MIN_INDEXED_LENGTH]
    scanned = [word for word in word_list if word not in indexed]
    params = {f"search_ref_{number}": search.fts_phrase(word) for number, word in enumerate(indexed)}
    for number, word in enumerate(indexed + scanned):
        params[f"search_like_{number}"] = search.like_pattern(word)

    def match(number: int) -> ColumnElement[bool]:
        like = f"search_like_{number}"
        if number < len(indexed):
            by_ref = search.fts_rows("symbol_sets_fts", f"search_ref_{number}")
        else:
            # PostgreSQL answers this from the trigram index; short SQLite words scan.
            by_ref = select(SYMBOL_SETS.c.pk).where(search.icontains(SYMBOL_SETS.c.ref, like, sqlite=sqlite))
        columns = (RELEASES.c.version, RELEASES.c.project_name)
        releases = select(RELEASES.c.id).where(search.any_column(columns, like, sqlite=sqlite))
        by_release = select(SYMBOL_SETS.c.pk).where(SYMBOL_SETS.c.release_id.in_(releases))
        return SYMBOL_SETS.c.pk.in_(union_all(by_ref, by_release))

    def clause() -> ColumnElement[bool]:
        return and_(*(match(number) for number in range(len(word_list))))

    return search.Search((dialect, len(indexed), len(scanned)), params, clause)


# failed (a reason is recorded) > uploaded (hash set) > pending, as SymbolSet.status says. Literal
# constants: bound parameters would differ between SELECT and GROUP BY on PostgreSQL.
STATUS = case(
    (SYMBOL_SETS.c.failure_reason.is_not(None), literal_column("'failed'")),
    (SYMBOL_SETS.c.content_hash.is_not(None), literal_column("'uploaded'")),
    else_=literal_column("'pending'"),
)
# What a list shows of each set, with its release's fields (serializers.symbol_set_row).
LIST_COLUMNS = (
    uuid_text(SYMBOL_SETS.c.id, "id"),
    SYMBOL_SETS.c.ref,
    SYMBOL_SETS.c.project_id,
    SYMBOL_SETS.c.created_at,
    SYMBOL_SETS.c.last_used,
    SYMBOL_SETS.c.storage_ptr,
    SYMBOL_SETS.c.content_hash,
    SYMBOL_SETS.c.failure_reason,
    SYMBOL_SETS.c.size_bytes,
    uuid_text(SYMBOL_SETS.c.release_id, "release_id"),
    STATUS.label("status"),
    RELEASES.c.hash_id.label("release_hash_id"),
    RELEASES.c.project_id.label("release_project_id"),
    RELEASES.c.created_at.label("release_created_at"),
    RELEASES.c.metadata.label("release_metadata"),
    RELEASES.c.version.label("release_version"),
    RELEASES.c.project_name.label("release_project_name"),
)
LIST_SPEC = ListSpec(
    order_columns={name: SYMBOL_SETS.c[name] for name in ("created_at", "ref", "last_used")},
    default_order="-created_at",
    filters={
        "status": choice(STATUSES).described(
            "valid or uploaded: has its file; pending: waiting for its file; failed: the upload failed its "
            "checks; invalid: pending or failed; all (the default)."
        ),
        "ref": TEXT.described("Only the set with exactly this ref."),
        "search": TEXT.described(
            "Every word (split on whitespace) is contained in the ref, or in its release's version or "
            "project: a case-insensitive substring match (PostHog's icontains) per word, the words AND-ed; "
            "% and _ are literal."
        ),
    },
    columns=select(*LIST_COLUMNS).select_from(
        SYMBOL_SETS.outerjoin(RELEASES, RELEASES.c.id == SYMBOL_SETS.c.release_id)
    ),
    key=SYMBOL_SETS.c.pk,
    conditions={
        "project_id": SYMBOL_SETS.c.project_id == bindparam("project_id"),
        "ref": SYMBOL_SETS.c.ref == bindparam("ref"),
        # One condition per status, without a parameter.
        **{f"status={status}": clause for status, clause in _status_clauses().items()},
    },
    search=_search,
)


def parse_list_query(args: Mapping[str, str], default_limit: int, max_limit: int) -> ListQuery:
    return LIST_SPEC.parse(args, default_limit, max_limit)


def list_symbol_sets(project: Project, query: ListQuery, *, raw: bool = False) -> Page:
    """One page of the project's symbol sets, as rows of LIST_COLUMNS (raw: the driver's values,
    listing.paginate)."""
    where = {"project_id": project.id}
    filters = query.filters
    if filters.get("status", "all") != "all":
        where[f"status={filters['status']}"] = None
    if filters.get("ref"):
        where["ref"] = filters["ref"]
    return paginate(db.session, LIST_SPEC, query, where, raw=raw)


def status_counts(project: Project) -> dict[str, int]:
    """How many sets are uploaded, pending and failed (one statement)."""
    rows = db.session.execute(
        select(STATUS, func.count()).where(SymbolSet.project_id == project.id).group_by(STATUS)
    )
    counts = {"uploaded": 0, "pending": 0, "failed": 0}
    counts.update({name: count for name, count in rows})
    counts["all"] = sum(counts.values())
    return counts


def _day(column):
    """The UTC day of a timestamp as YYYY-MM-DD text."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone(literal_column("'UTC'"), column), literal_column("'YYYY-MM-DD'"))
    return func.strftime(literal_column("'%Y-%m-%d'"), column)


def daily_activity(project: Project, days: int = 30) -> list[dict]:
    """Uploads and failures per UTC day, oldest first, including empty days."""
    today = utcnow().date()
    since = datetime.combine(today - timedelta(days=days - 1), datetime.min.time(), tzinfo=utcnow().tzinfo)
    series = {
        (today - timedelta(days=offset)).isoformat(): {"uploads": 0, "failures": 0} for offset in range(days)
    }
    for column, name in ((SymbolSet.uploaded_at, "uploads"), (SymbolSet.failed_at, "failures")):
        day = _day(column)
        rows = db.session.execute(
            select(day, func.count()).where(SymbolSet.project_id == project.id, column >= since).group_by(day)
        )
        for label, count in rows:
            if label in series:
                series[label][name] = count
    return [{"day": day, **series[day]} for day in sorted(series)]


def get_symbol_set(project: Project, symbol_set_id: Any) -> SymbolSet:
    key = parse_uuid(symbol_set_id)
    item = None
    if key is not None:
        item = db.session.scalar(
            select(SymbolSet)
            .options(selectinload(SymbolSet.release))
            .where(SymbolSet.id == key, SymbolSet.project_id == project.id)
        )
    if item is None:
        raise NotFound(resource="symbol_set")
    return item


def history(project: Project, item: SymbolSet) -> list:
    return activity.entries_for(project, SCOPE, str(item.id))


def validate_ref(value: Any, attr: str) -> str:
    """A ref (chunk id): non-empty text of at most MAX_REF_LENGTH characters."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(attr, "invalid_chunk_ids", "Every chunk id must be a non-empty string.")
    if len(value) > MAX_REF_LENGTH:
        raise ValidationError(
            attr, "invalid_chunk_ids", f"Chunk ids are at most {MAX_REF_LENGTH} characters."
        )
    if text_problem(value):
        raise ValidationError(attr, "invalid_chunk_ids", text_problem(value))
    return value


def new_object_key(project_id: int, symbol_set_id) -> str:
    """A fresh final key for one checked (or rejected) file; no upload URL ever names it."""
    return f"symbol_sets/{project_id}/{symbol_set_id}/{secrets.token_hex(8)}"


STAGING_PREFIX = "staging/"


def new_staging_key(project_id: int, symbol_set_id) -> str:
    """A fresh key for one upload URL to write to; finishing moves the object away, killing the key."""
    return f"{STAGING_PREFIX}symbol_sets/{project_id}/{symbol_set_id}/{secrets.token_hex(16)}"


def object_keys(row: SymbolSet) -> list[str]:
    """Every object a set holds: its checked file, a pending upload and rejected bytes."""
    return [key for key in (row.storage_ptr, row.upload_key, row.rejected_key) if key]


def locking(statement: Select) -> Select:
    """Lock the selected sets in the one order all writers use (project, ref): they queue, never deadlock."""
    return statement.order_by(SymbolSet.project_id, SymbolSet.ref).with_for_update(of=SymbolSet)


# --- review actions -----------------------------------------------------------------------


def delete_objects(keys: list[str]) -> None:
    """Best effort, after the rows are gone: an orphaned object costs space, never correctness."""
    storage = get_storage()
    for key in keys:
        try:
            storage.delete(key)
        except StorageError:
            current_app.logger.exception("Could not delete stored object %s", key)


def _id_list(value: Any) -> list:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ValidationError(None, "required", "Send ids: a list of symbol set ids.")
    return value


_SET_ID = {"type": "string", "pattern": UUID_PATTERN}


class BulkDeleteInput(inputs.Input):
    """The sets to delete: a list of ids, or one id."""

    model_config = ConfigDict(json_schema_extra={"required": ["ids"]})

    ids: inputs.checked(
        _id_list, {"anyOf": [{"type": "array", "minItems": 1, "items": _SET_ID}, _SET_ID]}
    ) = Field(default=None, validate_default=True)


def delete_symbol_sets(project: Project, actor: User | None, ids: list[Any]) -> int:
    """Delete sets and their stored objects; return how many were deleted."""
    keys = [parse_uuid(value) for value in ids]
    if any(key is None for key in keys):
        raise ValidationError("ids", "invalid", "Every id must be a symbol set uuid.")
    objects, count = _delete_rows(project, actor, keys)
    delete_objects(objects)
    return count


@retry_on_contention
def _delete_rows(project: Project, actor: User | None, keys: list) -> tuple[list[str], int]:
    with write_transaction() as session:
        rows = list(
            session.scalars(
                locking(select(SymbolSet).where(SymbolSet.project_id == project.id, SymbolSet.id.in_(keys)))
            )
        )
        objects = [key for row in rows for key in object_keys(row)]
        for row in rows:
            activity.record(session, project, actor, SCOPE, row.id, "deleted", row.ref)
            session.delete(row)
    return objects, len(rows)


def delete_symbol_set(project: Project, actor: User | None, symbol_set_id: Any) -> None:
    item = get_symbol_set(project, symbol_set_id)
    delete_symbol_sets(project, actor, [item.id])


def _download_name(ref: str, suffix: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", ref)[:100] + suffix


def download_url(project: Project, symbol_set_id: Any) -> str:
    """A short-lived URL for the checked file (its sha512 is content_hash); counts as a use of the set."""
    item = get_symbol_set(project, symbol_set_id)
    if not item.has_uploaded_file:
        raise NotFound("This symbol set has no uploaded file.")
    # Read before the write: its opening commit expires `item`, and the row may be gone by then.
    key, ref, item_id = item.storage_ptr, item.ref, item.id
    with write_transaction() as session:
        touched = session.execute(
            update(SymbolSet).where(SymbolSet.id == item_id).values(last_used=utcnow())
        ).rowcount
    if not touched:
        raise NotFound(resource="symbol_set")  # deleted since it was read above
    return get_storage().presign_download(key, DOWNLOAD_URL_SECONDS, filename=_download_name(ref, ".symbols"))


def rejected_download_url(project: Project, symbol_set_id: Any) -> str:
    """A short-lived URL for the bytes of the latest upload that failed the checks, for review."""
    item = get_symbol_set(project, symbol_set_id)
    if not item.rejected_key:
        raise NotFound("This symbol set has no rejected file.")
    key, filename = item.rejected_key, _download_name(item.ref, ".rejected.symbols")
    db.session.rollback()  # no transaction stays open while storage is called
    return get_storage().presign_download(key, DOWNLOAD_URL_SECONDS, filename=filename)


def mark_failed(project: Project, ref: str, reason: str) -> SymbolSet:
    """Record an external symbolicator's failure, creating the set if it is unknown."""
    ref = validate_ref(ref, "ref")
    if not reason or not reason.strip():
        raise ValidationError("reason", "blank", "Give the failure reason.")
    clean_text(reason, "reason")
    return get_symbol_set(project, _record_failure(project, ref, reason.strip()))


@retry_on_contention
def _record_failure(project: Project, ref: str, reason: str):
    with write_transaction() as session:
        session.execute(
            insert_or_ignore(session, SymbolSet, ["project_id", "ref"]).values(project_id=project.id, ref=ref)
        )
        row = session.scalar(
            locking(select(SymbolSet).where(SymbolSet.project_id == project.id, SymbolSet.ref == ref))
        )
        if row is None:
            raise LostRace()  # deleted between the insert and the lock
        before = row.failure_reason
        row.failure_reason = reason
        row.failed_at = utcnow()
        activity.record(
            session,
            project,
            None,
            SCOPE,
            row.id,
            "failed",
            ref,
            [{"field": "failure_reason", "before": before, "after": row.failure_reason}],
        )
        return row.id
