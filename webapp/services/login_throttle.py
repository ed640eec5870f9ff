"""Login throttling: too many failures for one email or one address in a window blocks further tries."""

from datetime import timedelta

from sqlalchemy import delete, func, or_, select

from ..database import retry_on_contention, write_transaction
from ..extensions import db
from ..models import LoginFailure
from ..models.types import utcnow
from .accounts import normalize_email

WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_EMAIL = 10
MAX_FAILURES_PER_ADDRESS = 50


def retry_after(email: str, address: str) -> int | None:
    """Seconds until another try is allowed, or None when a try is allowed now."""
    since = utcnow() - WINDOW
    email = normalize_email(email)
    counts = db.session.execute(
        select(
            func.count().filter(LoginFailure.email == email),
            func.count().filter(LoginFailure.address == address),
            func.min(LoginFailure.created_at),
        ).where(
            LoginFailure.created_at > since,
            or_(LoginFailure.email == email, LoginFailure.address == address),
        )
    ).one()
    by_email, by_address, oldest = counts
    if by_email < MAX_FAILURES_PER_EMAIL and by_address < MAX_FAILURES_PER_ADDRESS:
        return None
    return max(int((oldest + WINDOW - utcnow()).total_seconds()), 1)


@retry_on_contention
def record_failure(email: str, address: str) -> None:
    with write_transaction() as session:
        session.add(LoginFailure(email=normalize_email(email)[:254], address=address[:64]))
        # Old rows are worthless: prune them as we go instead of running a cleanup job.
        session.execute(delete(LoginFailure).where(LoginFailure.created_at < utcnow() - WINDOW))


@retry_on_contention
def clear_failures(email: str) -> None:
    with write_transaction() as session:
        session.execute(delete(LoginFailure).where(LoginFailure.email == normalize_email(email)))
