"""Expiry: end uploads started but never finished, and remove what dead upload URLs left behind."""

import itertools
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..database import retry_on_contention, write_transaction
from ..extensions import db
from ..models import SymbolSet
from ..models.types import utcnow
from ..storage import get_storage
from .symbol_sets import STAGING_PREFIX, delete_objects, locking
from .symbol_upload_checks import record_failed_attempt
from .symbol_uploads import EXPIRY_GRACE, UPLOAD_URL_SECONDS


def expired_upload_reason(started: datetime) -> str:
    return (
        f"The upload was started at {started.strftime('%Y-%m-%d %H:%M UTC')} but never finished: the client "
        "did not upload the file or did not call bulk_finish_upload before the upload URL expired."
    )


def _expiry_cutoff(now: datetime | None, grace: timedelta) -> datetime:
    return (now or utcnow()) - timedelta(seconds=UPLOAD_URL_SECONDS) - grace


@retry_on_contention
def expire_pending(now: datetime | None = None, grace: timedelta = EXPIRY_GRACE) -> int:
    """End uploads started but not finished within the URL lifetime plus grace; return how many.

    A set with nothing usable yet becomes failed; a set with a checked file keeps it (the attempt is
    logged). The staging objects of those uploads are deleted.
    """
    now = now or utcnow()
    cutoff = _expiry_cutoff(now, grace)
    with write_transaction() as session:
        rows = list(
            session.scalars(
                locking(
                    select(SymbolSet)
                    .options(selectinload(SymbolSet.project))
                    .where(SymbolSet.upload_key.is_not(None), SymbolSet.upload_started_at < cutoff)
                )
            )
        )
        stale = []
        for row in rows:
            reason = expired_upload_reason(row.upload_started_at)
            stale.append(row.upload_key)
            row.upload_key = row.upload_started_at = None
            record_failed_attempt(session, row.project, None, row, reason, now)
    delete_objects(stale)
    return len(rows)


ORPHAN_BATCH = 500


def remove_orphaned_uploads(now: datetime | None = None, grace: timedelta = EXPIRY_GRACE) -> int:
    """Delete staging objects no pending upload references (written to a URL after its upload ended,
    or left by a crash) once no URL for them can still be live; return how many."""
    storage = get_storage()
    keys = storage.list_keys(STAGING_PREFIX, modified_before=_expiry_cutoff(now, grace))
    removed = 0
    while batch := list(itertools.islice(keys, ORPHAN_BATCH)):
        live = set(db.session.scalars(select(SymbolSet.upload_key).where(SymbolSet.upload_key.in_(batch))))
        db.session.rollback()
        for key in batch:
            if key not in live:
                storage.delete(key)
                removed += 1
    return removed


ABANDONED_AFTER = timedelta(hours=1)


def remove_abandoned_uploads(now: datetime | None = None, older_than: timedelta = ABANDONED_AFTER) -> int:
    """Clean up partial objects left by processes that died mid-upload; return how many."""
    return get_storage().remove_abandoned((now or utcnow()) - older_than)
