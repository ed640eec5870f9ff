"""Personal API keys: creation, the one showing of a new key, lookup by hash, scopes."""

import hashlib
import secrets
import uuid
from collections import namedtuple
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, and_, bindparam, select, true, update
from sqlalchemy.exc import IntegrityError

from .. import driver_reads
from ..database import write_transaction
from ..extensions import db
from ..models import PersonalAPIKey, Project, User
from ..models.types import utcnow
from . import one_time
from .accounts import is_member, user_projects
from .errors import NotFound, ValidationError
from .validation import INT32_MAX, clean_text, integer, parse_uuid, text_problem

KEY_PREFIX = "phx_"
SCOPE_OBJECTS = ("evaluation", "error_tracking", "project", "organization")
# The actions each scope object offers.
SCOPE_ACTIONS = {
    "evaluation": ("read", "write"),
    "error_tracking": ("read", "write"),
    "project": ("read", "write"),
    "organization": ("read", "write"),
}
ALL_SCOPES = tuple(f"{obj}:{action}" for obj, actions in SCOPE_ACTIONS.items() for action in actions)
MAX_KEYS_PER_USER = 10
MAX_LABEL_LENGTH = 40
# A new key can be shown for this long after its creation, and only once.
REVEAL_SECONDS = 600


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


def describe(key: PersonalAPIKey) -> str:
    """Name a key the way every message does: its label and its mask."""
    return f"“{key.label}” ({key.mask_value})"


def create_key(
    user: User, label: str, scopes: list[str] | str, scoped_teams: list[int] | None = None
) -> tuple[PersonalAPIKey, str]:
    """Create a key; return it with the raw value, which is never stored."""
    raw_key = _new_raw_key()
    return _insert_key(user, label, scopes, scoped_teams, raw_key, sealed=None), raw_key


def create_key_to_reveal(
    user: User, label: str, scopes: list[str] | str, scoped_teams: list[int] | None = None
) -> tuple[PersonalAPIKey, bytes]:
    """Create a key to show once on a later page; return it with the pad that unseals it.

    The row keeps the raw key XOR a random pad as long as the key; the caller keeps the pad (in
    the creating browser's session). Neither half alone tells anything about the key, and
    reveal_key() destroys the row's half on first use.
    """
    raw_key = _new_raw_key()
    sealed, pad = one_time.seal(raw_key)
    return _insert_key(user, label, scopes, scoped_teams, raw_key, sealed=sealed), pad


def reveal_key(user: User, key_id: str, pad: bytes) -> str | None:
    """The raw value of a key created by create_key_to_reveal, the first time only; else None."""
    key_uuid = parse_uuid(key_id)
    if key_uuid is None:
        return None
    with write_transaction() as session:
        key = session.scalar(
            select(PersonalAPIKey)
            .where(PersonalAPIKey.id == key_uuid, PersonalAPIKey.user_id == user.id)
            .with_for_update()
        )
        if key is None:
            return None
        sealed = one_time.take(key, timedelta(seconds=REVEAL_SECONDS))
        secure_value = key.secure_value
    # Only ever show the key this row authenticates.
    return one_time.reveal(sealed, pad, secure_value, hash_key)


def unused_label(user: User, base: str) -> str:
    """`base`, or `base 2`, `base 3`... whichever the user has no key with yet."""
    labels = set(db.session.scalars(select(PersonalAPIKey.label).where(PersonalAPIKey.user_id == user.id)))
    label, number = base, 2
    while label in labels:
        label, number = f"{base} {number}", number + 1
    return label


def _new_raw_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(36)


def _insert_key(
    user: User,
    label: str,
    scopes: list[str] | str,
    scoped_teams: list[int] | None,
    raw_key: str,
    sealed: bytes | None,
) -> PersonalAPIKey:
    """Check the input, then store the key's hash (and, when given, its sealed copy)."""
    label = clean_text(label or "", "label").strip()
    if not label:
        raise ValidationError("label", "blank", "Give the key a label.")
    if len(label) > MAX_LABEL_LENGTH:
        raise ValidationError(
            "label", "max_length", f"Keep the label to {MAX_LABEL_LENGTH} characters or fewer."
        )
    scopes = parse_scopes(scopes)
    if scoped_teams:
        scoped_teams = [integer(team, "scoped_teams", minimum=1, maximum=INT32_MAX) for team in scoped_teams]
        allowed = {project.id for project in user_projects(user)}
        unknown = sorted(set(scoped_teams) - allowed)
        if unknown:
            raise ValidationError("scoped_teams", "invalid", f"You are not a member of project {unknown[0]}.")
        scoped_teams = sorted(set(scoped_teams))
    try:
        with write_transaction() as session:
            keys = session.scalars(
                select(PersonalAPIKey.label).where(PersonalAPIKey.user_id == user.id)
            ).all()
            if label in keys:
                raise _label_taken(label)
            if len(keys) >= MAX_KEYS_PER_USER:
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
                reveal_sealed=sealed,
            )
            session.add(key)
    except IntegrityError:
        # Another request of this user took the label between our check and our insert.
        raise _label_taken(label) from None
    return key


def _label_taken(label: str) -> ValidationError:
    return ValidationError(
        "label", "unique", f"You already have a key labelled “{label}”. Give this one another label."
    )


def list_keys(user: User) -> list[PersonalAPIKey]:
    return list(
        db.session.scalars(
            select(PersonalAPIKey)
            .where(PersonalAPIKey.user_id == user.id)
            .order_by(PersonalAPIKey.created_at.desc())
        )
    )


def get_key(user: User, key_id: str) -> PersonalAPIKey:
    key_uuid = parse_uuid(key_id)
    key = db.session.get(PersonalAPIKey, key_uuid) if key_uuid else None
    if key is None or key.user_id != user.id:
        raise NotFound("API key not found.")
    return key


def delete_key(user: User, key_id: str) -> str:
    """Delete one of the user's keys; return its description for the message."""
    key_uuid = parse_uuid(key_id)
    with write_transaction() as session:
        query = select(PersonalAPIKey).where(PersonalAPIKey.id == key_uuid, PersonalAPIKey.user_id == user.id)
        key = session.scalar(query) if key_uuid else None
        if key is None:
            raise NotFound("API key not found.")
        description = describe(key)
        session.delete(key)
    return description


@dataclass(frozen=True)
class KeyCaller:
    """Who calls with a key, and what the key allows: read per request, never cached (a revoked key, a
    deactivated user or a removed membership holds from the next request on)."""

    key_id: uuid.UUID
    user_id: int
    scopes: list[str]
    scoped_teams: list[int] | None
    # The project asked for, if the user may use it (else None); only when a project id was given.
    project: "ProjectColumns | None" = None


KEYS, USERS, PROJECTS = PersonalAPIKey.__table__, User.__table__, Project.__table__
# A project as the key lookup reads it: its columns by name (id, organization_id, name, ...), no ORM object.
ProjectColumns = namedtuple("ProjectColumns", [column.key for column in PROJECTS.c])


def _lookup(with_project: bool) -> Select:
    """The key by its hash, with its user's is_active and, with_project, the project `:project_id` when the
    user belongs to it: one statement, built once (Core columns, named parameters)."""
    columns = [KEYS.c.id, KEYS.c.user_id, KEYS.c.scopes, KEYS.c.scoped_teams, KEYS.c.last_used_at]
    joined = KEYS.join(USERS, USERS.c.id == KEYS.c.user_id)
    if with_project:
        columns += PROJECTS.c
        joined = joined.outerjoin(
            PROJECTS,
            and_(
                PROJECTS.c.id == bindparam("project_id"),
                is_member(KEYS.c.user_id, PROJECTS.c.organization_id),
            ),
        )
    return (
        select(*columns)
        .select_from(joined)
        .where(KEYS.c.secure_value == bindparam("secure_value"), USERS.c.is_active == true())
    )


LOOKUPS = {with_project: _lookup(with_project) for with_project in (False, True)}
KEY_COLUMNS = len(LOOKUPS[False].selected_columns)  # the project's columns follow the key's


def authenticate_key(
    raw_key: str, touch_interval: timedelta, project_id: int | None = None
) -> KeyCaller | None:
    """The caller of an active user's key with this raw value (and, given `project_id`, that project if the
    user may use it); note the key's use at most once per interval. None for an unknown key."""
    if text_problem(raw_key):
        return None  # a lone surrogate cannot even be hashed: no key looks like that
    params = {"secure_value": hash_key(raw_key.strip()), "project_id": project_id}
    # On the driver's cursor: every API call with a key runs this lookup (driver_reads.py).
    found = driver_reads.rows(LOOKUPS[project_id is not None], params)
    if not found:
        return None
    row = found[0]
    key_id, user_id, scopes, scoped_teams, last_used_at = row[:KEY_COLUMNS]
    now = utcnow()
    if last_used_at is None or now - last_used_at >= touch_interval:
        _touch(key_id, now)
    project = None
    if project_id is not None and row[KEY_COLUMNS] is not None:
        project = ProjectColumns(*row[KEY_COLUMNS:])
    return KeyCaller(key_id, user_id, scopes, scoped_teams, project)


def _touch(key_id: uuid.UUID, now: datetime) -> None:
    with write_transaction() as session:
        session.execute(update(PersonalAPIKey).where(PersonalAPIKey.id == key_id).values(last_used_at=now))
