"""Personal API keys: creation, lookup by hash, scopes."""

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from ..database import write_transaction
from ..extensions import db
from ..models import PersonalAPIKey, User
from ..models.types import utcnow
from .accounts import user_projects
from .errors import NotFound, ValidationError

KEY_PREFIX = "phx_"
SCOPE_OBJECTS = ("evaluation", "error_tracking", "project", "organization")
# The actions each scope object offers; project and organization are read-only here.
SCOPE_ACTIONS = {
    "evaluation": ("read", "write"),
    "error_tracking": ("read", "write"),
    "project": ("read",),
    "organization": ("read",),
}
ALL_SCOPES = tuple(f"{obj}:{action}" for obj, actions in SCOPE_ACTIONS.items() for action in actions)
MAX_KEYS_PER_USER = 10
MAX_LABEL_LENGTH = 40


def hash_key(raw_key: str) -> str:
    return "sha256$" + hashlib.sha256(raw_key.encode()).hexdigest()


def mask_key(raw_key: str) -> str:
    return f"{raw_key[:4]}...{raw_key[-4:]}"


def parse_scopes(scopes: list[str] | str) -> list[str]:
    """Validate scopes given as a list or a comma-separated string."""
    if isinstance(scopes, str):
        scopes = [s.strip() for s in scopes.split(",") if s.strip()]
    if not scopes:
        raise ValidationError("scopes", "required", "Choose at least one scope.")
    for scope in scopes:
        if scope != "*" and scope not in ALL_SCOPES:
            raise ValidationError("scopes", "invalid_scope", f"Unknown scope '{scope}'.")
    if "*" in scopes:
        return ["*"]
    return sorted(set(scopes))


def has_scope(granted: list[str], required: str) -> bool:
    """Whether granted scopes cover `object:action`; write implies read, `*` covers all."""
    if "*" in granted or required in granted:
        return True
    scope_object, action = required.split(":")
    return action == "read" and f"{scope_object}:write" in granted


def create_key(
    user: User, label: str, scopes: list[str] | str, scoped_teams: list[int] | None = None
) -> tuple[PersonalAPIKey, str]:
    """Create a key; return it with the raw value, which is never stored."""
    label = (label or "").strip()
    if not label:
        raise ValidationError("label", "blank", "Give the key a label.")
    if len(label) > MAX_LABEL_LENGTH:
        raise ValidationError(
            "label", "max_length", f"Keep the label to {MAX_LABEL_LENGTH} characters or fewer."
        )
    scopes = parse_scopes(scopes)
    if scoped_teams:
        allowed = {project.id for project in user_projects(user)}
        unknown = sorted(set(scoped_teams) - allowed)
        if unknown:
            raise ValidationError("scoped_teams", "invalid", f"You are not a member of project {unknown[0]}.")
        scoped_teams = sorted(set(scoped_teams))
    raw_key = KEY_PREFIX + secrets.token_urlsafe(36)
    with write_transaction() as session:
        count = session.scalar(select(func.count(PersonalAPIKey.id)).where(PersonalAPIKey.user_id == user.id))
        if count >= MAX_KEYS_PER_USER:
            raise ValidationError(
                None, "too_many_keys", f"You can have at most {MAX_KEYS_PER_USER} keys; delete one first."
            )
        key = PersonalAPIKey(
            user_id=user.id,
            label=label,
            secure_value=hash_key(raw_key),
            mask_value=mask_key(raw_key),
            scopes=scopes,
            scoped_teams=scoped_teams or None,
        )
        session.add(key)
    return key, raw_key


def list_keys(user: User) -> list[PersonalAPIKey]:
    return list(
        db.session.scalars(
            select(PersonalAPIKey)
            .where(PersonalAPIKey.user_id == user.id)
            .order_by(PersonalAPIKey.created_at.desc())
        )
    )


def get_key(user: User, key_id: str) -> PersonalAPIKey:
    try:
        key_uuid = uuid.UUID(str(key_id))
    except ValueError:
        raise NotFound("API key not found.") from None
    key = db.session.get(PersonalAPIKey, key_uuid)
    if key is None or key.user_id != user.id:
        raise NotFound("API key not found.")
    return key


def delete_key(user: User, key_id: str) -> str:
    """Delete one of the user's keys; return its label."""
    key = get_key(user, key_id)
    label = key.label
    with write_transaction() as session:
        session.delete(session.get(PersonalAPIKey, key.id))
    return label


def authenticate_key(raw_key: str, touch_interval: timedelta) -> PersonalAPIKey | None:
    """Find the key with this raw value and note its use (at most once per interval)."""
    key = db.session.scalar(
        select(PersonalAPIKey).where(PersonalAPIKey.secure_value == hash_key(raw_key.strip()))
    )
    if key is None or not key.user.is_active:
        return None
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at >= touch_interval:
        _touch(key.id, now)
    return key


def _touch(key_id: uuid.UUID, now: datetime) -> None:
    with write_transaction() as session:
        session.execute(update(PersonalAPIKey).where(PersonalAPIKey.id == key_id).values(last_used_at=now))
