"""The seeder: the demo login, bulk-inserted evaluations and symbol sets with really stored files."""

import hashlib
import io
import json
import random
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.orm import Session

from ..database import write_transaction
from ..extensions import db
from ..models import ActivityLog, Evaluation, Project, Release, SymbolSet, User
from ..models.types import utcnow
from ..services import accounts, activity, releases, symbol_sets, symbol_upload_expiry, symbol_uploads
from ..services.errors import NotFound
from ..services.evaluations import EDITABLE_FIELDS, SCOPE
from ..storage import Storage, get_storage
from . import bundles, content

DEMO_ORGANIZATION = "Demo Organization"
DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo-password"
DEMO_FIRST_NAME = "Demo"
DEMO_URL = "http://127.0.0.1:5000"
DEFAULT_EVALUATIONS = 12
SPREAD = timedelta(days=60)
# Rows per INSERT round; each batch is its own short write transaction so a running
# server's writers are never locked out of SQLite for the whole seed.
BATCH_SIZE = 5_000


@dataclass(frozen=True)
class DemoAccount:
    user: User
    project: Project
    created: bool


def ensure_demo_account() -> DemoAccount:
    """Return the demo user and project, creating the user (and organization) when missing."""
    try:
        user = accounts.find_user_by_email(DEMO_EMAIL)
        created = False
    except NotFound:
        user = accounts.create_user(DEMO_EMAIL, DEMO_PASSWORD, DEMO_ORGANIZATION, first_name=DEMO_FIRST_NAME)
        created = True
    return DemoAccount(user=user, project=accounts.resolve_project(user, "@current"), created=created)


def demo_user_exists() -> bool:
    return db.session.scalar(select(User.id).where(User.email == DEMO_EMAIL)) is not None


def demo_password_works() -> bool:
    """Whether the demo login still uses the default password (someone may have changed it)."""
    return accounts.authenticate(DEMO_EMAIL, DEMO_PASSWORD) is not None


def generate_rows(
    project_id: int, user_id: int, start: int, count: int, now: datetime, rng: random.Random
) -> Iterator[tuple[dict, list[dict]]]:
    """Yield (evaluation row, activity rows) for demo evaluations start..start+count-1."""
    texts = content.texts()
    spread = SPREAD.total_seconds()
    for index in range(start, start + count):
        description, prompt = texts[content.check_and_surface(index)]
        age = rng.random() * spread
        created_at = now - timedelta(seconds=age)
        # Most evaluations were edited (here: switched on or off) some time after creation.
        edited = rng.random() < 0.6
        updated_at = created_at + timedelta(seconds=age * rng.random()) if edited else created_at
        row = {
            "id": uuid.uuid4(),
            "project_id": project_id,
            "name": content.evaluation_name(index),
            "description": description,
            "enabled": rng.random() < 0.6,
            "prompt": prompt,
            "conditions": content.conditions(rng),
            "created_at": created_at,
            "updated_at": updated_at,
            "created_by_id": user_id,
            "deleted": False,
            "version": 2 if edited else 1,
        }
        yield row, _history(row, edited)


def _history(row: dict, edited: bool) -> list[dict]:
    """The activity entries the API would have written: created, then (if edited) the enabled toggle."""
    final = {field: row[field] for field in (*EDITABLE_FIELDS, "deleted")}
    initial = {**final, "enabled": not final["enabled"]} if edited else final
    versions = [("created", {}, initial, row["created_at"])]
    if edited:
        versions.append(("updated", initial, final, row["updated_at"]))
    return [
        activity.entry(
            row["project_id"],
            row["created_by_id"],
            SCOPE,
            row["id"],
            name,
            row["name"],
            activity.diff(before, after),
            created_at=at,
        )
        for name, before, after, at in versions
    ]


def count_evaluations(project: Project) -> int:
    return db.session.scalar(select(func.count(Evaluation.pk)).where(Evaluation.project_id == project.id))


def seed_evaluations(project: Project, user: User, count: int, *, batch_size: int = BATCH_SIZE) -> int:
    """Bulk-insert `count` demo evaluations with their activity entries; return how many were added."""
    rows = generate_rows(project.id, user.id, count_evaluations(project), count, utcnow(), random.Random())

    def next_batch() -> list[tuple[dict, list[dict]]]:
        return list(islice(rows, batch_size))

    added = 0
    # Build the next batch while the database writes this one (about a quarter faster on PostgreSQL).
    with ThreadPoolExecutor(max_workers=1) as builder:
        upcoming = builder.submit(next_batch)
        while batch := upcoming.result():
            upcoming = builder.submit(next_batch)
            with write_transaction() as session, _search_index_in_bulk(session):
                # Core inserts (executemany): no ORM identity bookkeeping for rows nobody reads back.
                session.execute(insert(Evaluation.__table__), [row for row, _ in batch])
                session.execute(
                    insert(ActivityLog.__table__), [entry for _, history in batch for entry in history]
                )
            added += len(batch)
    _refresh_planner_statistics()
    return added


def _refresh_planner_statistics() -> None:
    # Until autovacuum gets round to it, PostgreSQL plans with the pre-seed row counts and scans
    # the whole table for a search instead of using the trigram indexes (20x slower at 1e5 rows).
    # SQLite never gathers statistics itself: without them it takes `project_id = ?` for a few rows and
    # probes a search's full-text matches while scanning the project's whole index, instead of
    # fetching the matches by key (about 3x slower for `search=hallucination` at 1e5 rows).
    with write_transaction() as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("ANALYZE evaluations, activity_log"))
        else:
            session.execute(text("ANALYZE"))


SQLITE_SEARCH_TRIGGER = "evaluations_fts_insert"


@contextmanager
def _search_index_in_bulk(session: Session) -> Iterator[None]:
    """On SQLite, index the new rows' search text with one statement instead of a trigger per row.

    The FTS5 trigger (migration 0009) tokenizes row by row, which is most of a bulk insert's time;
    one INSERT ... SELECT into the index is about five times faster. The trigger is dropped and
    re-created inside the caller's write transaction (SQLite DDL is transactional and BEGIN
    IMMEDIATE keeps other writers out), so no other insert can miss the index.
    """
    trigger_sql = None
    if session.get_bind().dialect.name == "sqlite":
        trigger_sql = session.scalar(
            text("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = :name"),
            {"name": SQLITE_SEARCH_TRIGGER},
        )
    if trigger_sql is None:
        yield
        return
    last_pk = session.scalar(select(func.coalesce(func.max(Evaluation.pk), 0)))
    session.execute(text(f"DROP TRIGGER {SQLITE_SEARCH_TRIGGER}"))
    yield
    session.execute(
        text(
            "INSERT INTO evaluations_fts(rowid, name, description, prompt) "
            "SELECT pk, name, description, prompt FROM evaluations WHERE pk > :last_pk"
        ),
        {"last_pk": last_pk},
    )
    session.execute(text(trigger_sql))


# --- symbol sets ------------------------------------------------------------------------------

DEFAULT_SYMBOL_SETS = 9
# Every uploaded (or rejected) demo set has its own stored object of about 1 KiB.
MAX_SYMBOL_SETS = 10_000
# Inside the summary chart's last 30 days.
SYMBOL_SET_SPREAD = timedelta(days=29)
STORE_THREADS = 8
# About one set in five is release-independent (the PostHog CLI's default "event" release mode).
NO_RELEASE_SHARE = 0.2
APP_URL = "https://app.acme.dev"
# Fixed orders, so even the default nine sets show every status and each kind of failure.
STATUS_CYCLE = ("uploaded", "failed", "pending", "uploaded", "failed", "uploaded", "failed", "uploaded",
                "pending", "uploaded")  # fmt: skip
FAILURE_CYCLE = ("no_sourcemap", "not_json", "expired", "sourcemap_not_found", "no_mappings", "timeout",
                 "truncated", "expired")  # fmt: skip


@dataclass
class _DemoSet:
    row: dict
    history: list[dict]
    blob: bytes | None  # stored under `key` before the row is written
    status: str

    @property
    def key(self) -> str | None:
        return self.row["storage_ptr"] or self.row["rejected_key"]


def _entry(row: dict, user_id: int | None, name: str, changes: list[dict], at: datetime) -> dict:
    """The activity-log row the service writes for this event of a symbol set."""
    return activity.entry(
        row["project_id"], user_id, symbol_sets.SCOPE, row["id"], name, row["ref"], changes, created_at=at
    )


def _release_for(created_at: datetime, demo_releases: list[tuple[uuid.UUID, datetime]], rng: random.Random):
    if rng.random() < NO_RELEASE_SHARE:
        return None
    built_after = [release_id for release_id, released_at in demo_releases if released_at <= created_at]
    return built_after[-1] if built_after else None


def _demo_set(
    project_id: int,
    user_id: int,
    index: int,
    failure: str | None,
    now: datetime,
    demo_releases: list[tuple[uuid.UUID, datetime]],
    rng: random.Random,
) -> _DemoSet:
    """The index-th demo set: failed with the given kind of failure, else as STATUS_CYCLE says."""
    status = "failed" if failure else STATUS_CYCLE[index % len(STATUS_CYCLE)]
    set_id = uuid.uuid4()
    if status == "pending":
        # The CLI asked for an upload URL a few minutes ago and has not finished yet.
        created_at = now - timedelta(seconds=rng.uniform(10, 240))
    else:
        created_at = now - timedelta(hours=1) - rng.random() * (SYMBOL_SET_SPREAD - timedelta(hours=1))
    external = failure in ("no_sourcemap", "sourcemap_not_found", "timeout")
    release_id = None if external else _release_for(created_at, demo_releases, rng)
    bundle = bundles.build_bundle(
        content.MODULES[index % len(content.MODULES)],
        rng.getrandbits(64).to_bytes(8, "big").hex(),
        release_id,
    )
    row = {
        "id": set_id,
        "project_id": project_id,
        "ref": bundle.chunk_id,
        "release_id": release_id,
        "created_at": created_at,
        "last_used": None,
        "storage_ptr": None,
        "upload_key": None,
        "rejected_key": None,
        "content_hash": None,
        "size_bytes": None,
        "contents": None,
        "failure_reason": None,
        "failed_at": None,
        "upload_started_at": None,
        "uploaded_at": None,
    }
    blob, history = None, []
    finished = min(now, created_at + timedelta(seconds=rng.uniform(1, 20)))
    if status == "pending":
        row.update(upload_started_at=created_at, upload_key=symbol_sets.new_staging_key(project_id, set_id))
    elif status == "uploaded":
        blob = bundles.symbol_data_blob(bundle.source, json.dumps(bundle.source_map).encode())
        digest = hashlib.sha512(blob).hexdigest()
        row.update(
            storage_ptr=symbol_sets.new_object_key(project_id, set_id),
            content_hash=digest,
            size_bytes=len(blob),
            contents=bundles.contents(blob),
            uploaded_at=finished,
        )
        if rng.random() < 0.6:
            # Fetched by a symbolicator (or downloaded) since.
            row["last_used"] = finished + rng.random() * (now - finished)
        changes = [{"field": "content_hash", "before": None, "after": digest}]
        history.append(_entry(row, user_id, "uploaded", changes, finished))
    elif external:
        row.update(failure_reason=bundles.symbolicator_reason(failure, bundle), failed_at=created_at)
        changes = [{"field": "failure_reason", "before": None, "after": row["failure_reason"]}]
        history.append(_entry(row, None, "failed", changes, created_at))
    elif failure == "expired":
        failed_at = min(
            now, created_at + timedelta(seconds=symbol_uploads.UPLOAD_URL_SECONDS) + timedelta(minutes=15)
        )
        row.update(
            upload_started_at=created_at,
            failure_reason=symbol_upload_expiry.expired_upload_reason(created_at),
            failed_at=failed_at,
        )
        changes = [{"field": "failure_reason", "before": None, "after": row["failure_reason"]}]
        history.append(_entry(row, None, "failed", changes, failed_at))
    else:
        # Uploaded, then rejected by the check on finish: the bytes are kept for the admin to download.
        blob = bundles.symbol_data_blob(bundle.source, bundles.broken_map(failure, bundle))
        row.update(
            rejected_key=symbol_sets.new_object_key(project_id, set_id),
            failure_reason=bundles.rejection(blob),
            failed_at=finished,
        )
        changes = [{"field": "failure_reason", "before": None, "after": row["failure_reason"]}]
        history.append(_entry(row, user_id, "failed", changes, finished))
    return _DemoSet(row, history, blob, status)


def _ensure_releases(project: Project, now: datetime) -> list[tuple[uuid.UUID, datetime]]:
    """The demo releases (oldest first) as (id, created_at), created the way the CLI names them."""
    found = []
    for version, age in content.DEMO_RELEASES:
        try:
            release = releases.get_by_hash(
                project, releases.default_hash_id(content.RELEASE_PROJECT, version)
            )
        except NotFound:
            commit = hashlib.sha1(f"{content.RELEASE_PROJECT} {version}".encode()).hexdigest()
            git = {"repo_name": content.RELEASE_PROJECT, "branch": "main", "commit_id": commit}
            release = releases.create_release(
                project, {"version": version, "project": content.RELEASE_PROJECT, "metadata": {"git": git}}
            )
            # Released before the builds whose symbol sets belong to it.
            with write_transaction() as session:
                session.execute(update(Release).where(Release.id == release.id).values(created_at=now - age))
            release = releases.get_release(project, release.id)
        found.append((release.id, release.created_at))
    return found


def _store_objects(storage: Storage, objects: list[tuple[str, bytes]]) -> None:
    """Write the objects (a few threads: S3 is slow one by one); on failure remove what was written."""

    def put(item: tuple[str, bytes]) -> None:
        key, blob = item
        storage.put(key, io.BytesIO(blob), symbol_uploads.MAX_UPLOAD_BYTES)

    try:
        with ThreadPoolExecutor(max_workers=STORE_THREADS) as pool:
            for _ in pool.map(put, objects):
                pass
    except BaseException:
        symbol_sets.delete_objects([key for key, _ in objects])
        raise


@dataclass(frozen=True)
class SeededSymbolSets:
    uploaded: int = 0
    pending: int = 0
    failed: int = 0
    releases: tuple[str, ...] = ()

    @property
    def total(self) -> int:
        return self.uploaded + self.pending + self.failed


def seed_symbol_sets(
    project: Project, user: User, count: int, *, batch_size: int = BATCH_SIZE
) -> SeededSymbolSets:
    """Add demo releases and `count` symbol sets: uploaded (with real stored objects), pending and failed.

    Objects are stored before the rows that point at them are written (outside any transaction), so a
    row never names a missing object; objects of rows that could not be written are removed again.
    """
    if count <= 0:
        return SeededSymbolSets()
    now = utcnow()
    rng = random.Random()
    demo_releases = _ensure_releases(project, now)
    sets, failed = [], 0
    for index in range(count):
        failure = None
        if STATUS_CYCLE[index % len(STATUS_CYCLE)] == "failed":
            failure = FAILURE_CYCLE[failed % len(FAILURE_CYCLE)]
            failed += 1
        sets.append(_demo_set(project.id, user.id, index, failure, now, demo_releases, rng))
    storage = get_storage()
    _store_objects(storage, [(item.key, item.blob) for item in sets if item.blob is not None])
    written = 0
    try:
        for start in range(0, len(sets), batch_size):
            batch = sets[start : start + batch_size]
            with write_transaction() as session:
                session.execute(insert(SymbolSet.__table__), [item.row for item in batch])
                entries = [entry for item in batch for entry in item.history]
                if entries:
                    session.execute(insert(ActivityLog.__table__), entries)
            written += len(batch)
    except BaseException:
        symbol_sets.delete_objects([item.key for item in sets[written:] if item.blob is not None])
        raise
    statuses = [item.status for item in sets]
    return SeededSymbolSets(
        uploaded=statuses.count("uploaded"),
        pending=statuses.count("pending"),
        failed=statuses.count("failed"),
        releases=tuple(f"{content.RELEASE_PROJECT} {version}" for version, _ in content.DEMO_RELEASES),
    )
