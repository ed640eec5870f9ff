"""Resolve minified JavaScript stack frames through the project's symbol sets (never fetching a URL).

A frame's set is the one whose ref is its chunk id (the frame's own, else the `chunk_ids` map's entry
for its file), else the one whose ref is its file URL. A frame whose chunk has no usable set records a
failed set for that ref, as PostHog's symbolicator does, so admins see what is missing; resolving
through a set marks it used, at most one write a minute per set.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any

import symbolic
from pydantic import BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError
from sqlalchemy import or_, select, update

from ..database import insert_or_ignore, retry_on_contention, write_transaction
from ..extensions import db
from ..models import Project, SymbolSet, User
from ..models.types import utcnow
from ..storage import get_storage
from ..storage.base import ObjectNotFound
from . import activity, failure_reasons, inputs, stack_traces, symbol_data, validation
from .errors import ValidationError
from .symbol_cache import get_cache
from .symbol_sets import MAX_REF_LENGTH, SCOPE, locking

MAX_FRAMES = 200
MAX_STACK_CHARACTERS = 1024 * 1024
# A JSON body of the largest stack text (escaped) and chunk-id map; larger bodies are 413.
BODY_LIMIT = 8 * MAX_STACK_CHARACTERS
MAX_CHUNK_IDS = 1000
MAX_FILENAME_LENGTH = 4096
MAX_NUMBER = stack_traces.MAX_NUMBER
CONTEXT_LINES = 5
LAST_USED_INTERVAL = timedelta(minutes=1)
# A source context line longer than this is cut (minified lines can be megabytes).
MAX_CONTEXT_LINE = 500


def _text(max_length: int):
    def check(value: Any) -> str:
        if not isinstance(inputs.not_null(value), str):
            raise ValidationError(None, "invalid", "Not a valid string.")
        validation.clean_text(value, None)
        if len(value) > max_length:
            raise ValidationError(
                None, "max_length", f"Ensure this field has no more than {max_length} characters."
            )
        return value

    return check


def _optional_text(max_length: int):
    check = _text(max_length)
    return lambda value: None if value is None else check(value)


def _position(value: Any) -> int:
    # JSON Schema's integers include 3.0, as JSON has one kind of number.
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(inputs.not_null(value), int):
        raise ValidationError(None, "invalid", f"{validation.shown(value)} is not a whole number.")
    return validation.integer(value, None, minimum=1, maximum=MAX_NUMBER)


_CLEAN = {"type": "string", "pattern": inputs.CLEAN_TEXT}
_POSITION = {"type": "integer", "minimum": 1, "maximum": MAX_NUMBER}


class FrameInput(inputs.Input):
    """One frame as posthog-js reports it; lineno and colno are 1-based, as browsers print them."""

    filename: inputs.checked(_text(MAX_FILENAME_LENGTH), {**_CLEAN, "maxLength": MAX_FILENAME_LENGTH})
    lineno: inputs.checked(_position, _POSITION)
    colno: inputs.checked(_position, _POSITION)
    function: inputs.checked(
        _optional_text(MAX_FILENAME_LENGTH),
        {"anyOf": [{**_CLEAN, "maxLength": MAX_FILENAME_LENGTH}, {"type": "null"}]},
    ) = None
    chunk_id: inputs.checked(
        _optional_text(MAX_REF_LENGTH), {"anyOf": [{**_CLEAN, "maxLength": MAX_REF_LENGTH}, {"type": "null"}]}
    ) = None


def _frames_list(value: Any) -> Any:
    if value is not None and not isinstance(value, list):
        raise PydanticCustomError("invalid", "frames must be a list of frames.")
    if value is not None and len(value) > MAX_FRAMES:
        raise PydanticCustomError(
            "max_length", f"At most {MAX_FRAMES} frames can be resolved in one request."
        )
    return value


def _chunk_map(value: Any) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationError(None, "invalid", "chunk_ids must be an object of script URL: chunk id.")
    if len(value) > MAX_CHUNK_IDS:
        raise ValidationError(None, "max_length", f"chunk_ids can name at most {MAX_CHUNK_IDS} scripts.")
    for url, chunk_id in value.items():
        validation.clean_text(url, None)
        _text(MAX_REF_LENGTH)(chunk_id)
    return value


class SymbolicateInput(inputs.Input):
    """Either `stack` (Error.stack text) or `frames`, plus an optional map of script URL to chunk id."""

    model_config = ConfigDict(
        json_schema_extra={"oneOf": [{"required": ["stack"]}, {"required": ["frames"]}]}
    )

    stack: inputs.checked(  # absent is None; an explicit null is refused (the default is not validated)
        _text(MAX_STACK_CHARACTERS),
        {**_CLEAN, "maxLength": MAX_STACK_CHARACTERS},
    ) = None
    frames: Annotated[list[FrameInput], BeforeValidator(_frames_list), Field(max_length=MAX_FRAMES)] = None
    chunk_ids: inputs.checked(
        _chunk_map,
        {
            "anyOf": [
                {
                    "type": "object",
                    "maxProperties": MAX_CHUNK_IDS,
                    "propertyNames": _CLEAN,
                    "additionalProperties": {**_CLEAN, "maxLength": MAX_REF_LENGTH},
                },
                {"type": "null"},
            ]
        },
    ) = None


@dataclass(frozen=True)
class Frame:
    filename: str
    lineno: int
    colno: int
    function: str | None = None
    chunk_id: str | None = None

    def raw(self) -> dict:
        return {
            "filename": self.filename,
            "lineno": self.lineno,
            "colno": self.colno,
            "function": self.function,
            "chunk_id": self.chunk_id,
        }


def parse_request(body: Mapping) -> list[Frame]:
    """The frames to resolve, top first, each with its chunk id from the frame or the chunk_ids map."""
    request = inputs.parse(SymbolicateInput, body)
    if (request.stack is None) == (request.frames is None):
        raise ValidationError(None, "required", "Send either stack (the Error.stack text) or frames.")
    chunk_ids = request.chunk_ids or {}
    if request.stack is not None:
        parsed = stack_traces.parse(request.stack)
        if len(parsed) > MAX_FRAMES:
            raise ValidationError(
                "stack",
                "max_length",
                f"The stack has {len(parsed)} frames; at most {MAX_FRAMES} can be resolved.",
            )
        return [
            Frame(item.filename, item.lineno, item.colno, item.function, chunk_ids.get(item.filename))
            for item in parsed
        ]
    return [
        Frame(
            item.filename,
            item.lineno,
            item.colno,
            item.function,
            item.chunk_id or chunk_ids.get(item.filename),
        )
        for item in request.frames
    ]


@dataclass
class _Plan:
    """What the stored sets say about the request's frames, before anything is written."""

    sets: dict[str, Any]  # ref -> row
    missing: dict[str, str] = field(default_factory=dict)  # ref -> failure reason to record
    used: dict[Any, Any] = field(default_factory=dict)  # set id -> its last_used as read


def symbolicate(project: Project, actor: User | None, body: Mapping) -> list[dict]:
    """Resolve every frame (top first) to a result dict; record misses and uses in one write."""
    frames = parse_request(body)
    refs = {ref for frame in frames for ref in (frame.chunk_id, frame.filename) if ref}
    rows = (
        db.session.execute(
            select(
                SymbolSet.id,
                SymbolSet.ref,
                SymbolSet.storage_ptr,
                SymbolSet.content_hash,
                SymbolSet.failure_reason,
                SymbolSet.last_used,
            ).where(SymbolSet.project_id == project.id, SymbolSet.ref.in_(refs))
        ).all()
        if refs
        else []
    )
    plan = _Plan({row.ref: row for row in rows})
    db.session.rollback()  # no transaction stays open while storage is read
    results = [_resolve(frame, plan) for frame in frames]
    if plan.missing or _stale(plan.used):
        recorded = _record(project, actor, plan)
        for frame, result in zip(frames, results, strict=True):
            ref = frame.chunk_id or frame.filename
            if result["symbol_set_id"] is None and ref in recorded:
                # Link the frame to the failed set just recorded for it: that is the set to fix.
                result["symbol_set_id"], result["symbol_set_ref"] = str(recorded[ref]), ref
    return results


def _resolve(frame: Frame, plan: _Plan) -> dict:
    row = plan.sets.get(frame.chunk_id) if frame.chunk_id else None
    row = row or plan.sets.get(frame.filename)
    if row is None:
        return _unresolved(frame, None, _missing(frame, plan))
    if row.content_hash is None or row.storage_ptr is None:
        if row.failure_reason is not None:
            reason = failure_reasons.describe(row.failure_reason)
            return _unresolved(frame, row, f"The symbol set {row.ref} has no usable file: {reason}")
        plan.missing.setdefault(
            row.ref, "A stack frame needed this symbol set, but its upload was never finished."
        )
        return _unresolved(
            frame, row, f"The symbol set {row.ref} has no file yet: its upload was not finished."
        )
    try:
        parsed = get_cache().get(row.content_hash, lambda: _load(row.storage_ptr))
    except ObjectNotFound:
        return _unresolved(
            frame, row, f"The stored file of symbol set {row.ref} is missing; upload it again."
        )
    except (symbol_data.InvalidSymbolData, symbolic.SymbolicError) as error:
        reason = str(error).rstrip(".")
        return _unresolved(frame, row, f"The stored file of symbol set {row.ref} cannot be read: {reason}.")
    if parsed.cache is None:
        return _unresolved(
            frame, row, f"The symbol set {row.ref} cannot resolve this frame: {parsed.problem}."
        )
    plan.used[row.id] = row.last_used
    token = parsed.cache.lookup(frame.lineno, frame.colno, CONTEXT_LINES)
    if token is None or not token.src:
        return _unresolved(
            frame,
            row,
            f"Line {frame.lineno}, column {frame.colno} is not covered by the source map of {row.ref}.",
        )
    # The enclosing function from scope analysis (mapped through the map's names); where there is none
    # (top-level code), the frame's own name. Not token.name: that is the identifier at the position.
    function = token.function_name if token.function_name not in (None, "<unknown>") else None
    return {
        "resolved": True,
        "function": function or frame.function,
        "source": token.src,
        "line": token.line,
        "column": token.col,
        "context": _context(token),
        "symbol_set_id": str(row.id),
        "symbol_set_ref": row.ref,
        "failure": None,
        "raw": frame.raw(),
    }


def _load(key: str) -> symbol_data.Payload:
    with get_storage().open(key) as stream:
        return symbol_data.read_payload(stream)


def _context(token) -> dict | None:
    if token.context_line is None:
        return None

    def line(text: str) -> str:
        text = text.rstrip("\r\n")
        return text if len(text) <= MAX_CONTEXT_LINE else text[:MAX_CONTEXT_LINE] + "…"

    return {
        "pre": [line(text) for text in token.pre_context],
        "line": line(token.context_line),
        "post": [line(text) for text in token.post_context],
    }


def _missing(frame: Frame, plan: _Plan) -> str:
    """Why no set matched; the ref to record the miss under (chunk id, else URL) gets the same reason."""
    if frame.chunk_id:
        ref = frame.chunk_id
        reason = f"No symbol set was uploaded for chunk {ref}; a stack frame of {frame.filename} needed it."
    else:
        ref = frame.filename
        reason = (
            "No symbol set has this script URL as its ref and the frame named no chunk id (this server never "
            "fetches source maps): upload the map with posthog-cli, which injects chunk ids."
        )
    if len(ref) <= MAX_REF_LENGTH and not validation.text_problem(ref) and ref.strip():
        plan.missing.setdefault(ref, reason)
    return reason


def _unresolved(frame: Frame, row, failure: str) -> dict:
    return {
        "resolved": False,
        "function": None,
        "source": None,
        "line": None,
        "column": None,
        "context": None,
        "symbol_set_id": str(row.id) if row is not None else None,
        "symbol_set_ref": row.ref if row is not None else None,
        "failure": failure,
        "raw": frame.raw(),
    }


def _stale(used: dict) -> bool:
    cutoff = utcnow() - LAST_USED_INTERVAL
    return any(last is None or last < cutoff for last in used.values())


@retry_on_contention
def _record(project: Project, actor: User | None, plan: _Plan) -> dict[str, Any]:
    """One transaction: failed sets for the missing refs, last_used for sets used a minute ago or more.

    Return the ids of the missing refs' sets.
    """
    now = utcnow()
    with write_transaction() as session:
        if plan.used:
            session.execute(
                update(SymbolSet)
                .where(
                    SymbolSet.id.in_(list(plan.used)),
                    or_(SymbolSet.last_used.is_(None), SymbolSet.last_used < now - LAST_USED_INTERVAL),
                )
                .values(last_used=now)
            )
        if not plan.missing:
            return {}
        for ref in plan.missing:
            session.execute(
                insert_or_ignore(session, SymbolSet, ["project_id", "ref"]).values(
                    project_id=project.id, ref=ref
                )
            )
        rows = session.scalars(
            locking(
                select(SymbolSet).where(
                    SymbolSet.project_id == project.id, SymbolSet.ref.in_(list(plan.missing))
                )
            )
        )
        ids = {}
        for row in rows:
            ids[row.ref] = row.id
            if row.content_hash is not None or row.failure_reason is not None:
                continue  # uploaded or failed meanwhile: nothing to record
            row.failure_reason = plan.missing[row.ref]
            row.failed_at = now
            changes = [{"field": "failure_reason", "before": None, "after": row.failure_reason}]
            activity.record(session, project, actor, SCOPE, row.id, "failed", row.ref, changes)
    return ids
