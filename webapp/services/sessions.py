"""Browser sessions kept on the server: a random id per signed-in browser, revocable one by one."""

import hashlib
import logging
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.exc import SQLAlchemyError

from ..database import write_transaction
from ..extensions import db
from ..models import User, UserSession
from ..models.types import utcnow

# Writing last_seen_at on every request would turn every page view into a write.
TOUCH_INTERVAL = timedelta(hours=1)
log = logging.getLogger(__name__)


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def start(user: User, idle_lifetime: timedelta) -> str:
    """Record a new session for the user and return its id for the cookie; drop sessions gone idle."""
    session_id = secrets.token_urlsafe(32)
    now = utcnow()
    with write_transaction() as session:
        # Browsers that never log out leave rows behind: the idle ones go whenever someone logs in.
        session.execute(delete(UserSession).where(UserSession.last_seen_at < now - idle_lifetime))
        session.add(
            UserSession(id_hash=_digest(session_id), user_id=user.id, created_at=now, last_seen_at=now)
        )
        session.execute(update(User).where(User.id == user.id).values(last_login_at=now))
    return session_id


def find_user(user_id: int, session_id: str, idle_lifetime: timedelta) -> User | None:
    """The active user a live session belongs to, else None."""
    row = db.session.get(UserSession, _digest(session_id))
    now = utcnow()
    if row is None or row.user_id != user_id or now - row.last_seen_at >= idle_lifetime:
        return None
    user = db.session.get(User, user_id)
    if user is None or not user.is_active:
        return None
    if now - row.last_seen_at >= TOUCH_INTERVAL:
        _touch(row.id_hash, now)
    return user


def _touch(id_hash: str, now: datetime) -> None:
    try:
        with write_transaction() as session:
            session.execute(
                update(UserSession).where(UserSession.id_hash == id_hash).values(last_seen_at=now)
            )
    except SQLAlchemyError as error:
        # A database that refuses writes (disk full, read-only) must not also refuse reading pages:
        # a later request touches the session.
        log.warning("Could not note the use of a session: %s", error)


def end(session_id: str) -> None:
    """End one session (logout): a copy of its cookie no longer signs anyone in."""
    with write_transaction() as session:
        session.execute(delete(UserSession).where(UserSession.id_hash == _digest(session_id)))
