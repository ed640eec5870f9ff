"""The "Resolve a stack trace" page: paste Error.stack text (and the chunk-id map), see each frame's source.

Served on the symbol-sets blueprint (its login check and navigation), through the same service as the API.
"""

from flask import g, request
from flask_login import current_user
from werkzeug.exceptions import RequestEntityTooLarge

from ..extensions import csrf
from ..services import symbolication, validation
from ..services.errors import ValidationError
from .htmx import render
from .symbol_sets import bp

FIELD_OF = {"stack": "stack", "chunk_ids": "chunk_ids"}


def parse_chunk_map(text: str) -> dict[str, str]:
    """The chunk-id map as posthog-js builds it (a JSON object), or one `script-URL chunk-id` pair a line."""
    text = text.strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            value = validation.loads_json(text)
        except validation.InvalidJSON as error:
            raise ValidationError(
                "chunk_ids", "invalid", f"The chunk-id map is not valid JSON: {error.detail}"
            ) from None
        if not isinstance(value, dict):
            raise ValidationError(
                "chunk_ids", "invalid", "The chunk-id map must be an object of URL: chunk id."
            )
        return value
    pairs = {}
    for number, line in enumerate(text.splitlines(), start=1):
        parts = line.replace("=", " ").split()
        if not parts:
            continue
        if len(parts) != 2:
            raise ValidationError(
                "chunk_ids", "invalid", f"Line {number} of the chunk-id map is not `script-URL chunk-id`."
            )
        pairs[parts[0]] = parts[1]
    return pairs


def _page(project, status=200, **context):
    defaults = {"stack": "", "chunk_ids": "", "frames": None, "error": None, "error_field": None}
    return render(
        "symbol_sets/resolve.html",
        "symbol_sets/_resolve.html",
        status=status,
        project=project,
        max_frames=symbolication.MAX_FRAMES,
        **{**defaults, **context},
    )


@bp.get("/resolve")
def resolve_form():
    return _page(g.project)


@bp.post("/resolve")
@csrf.exempt  # checked below, once the larger body limit applies (reading the token parses the body)
def resolve():
    """Resolve the pasted stack; misses are recorded as failed sets, as the API records them."""
    project = g.project
    request.max_content_length = symbolication.BODY_LIMIT
    try:
        csrf.protect()
        stack = request.form.get("stack", "")
        chunk_text = request.form.get("chunk_ids", "")
    except RequestEntityTooLarge:
        limit_mib = symbolication.MAX_STACK_CHARACTERS // (1024 * 1024)
        return _page(project, 413, error=f"That is too large: paste at most {limit_mib} MiB of stack text.")
    try:
        chunk_ids = parse_chunk_map(chunk_text)
        frames = symbolication.symbolicate(project, current_user, {"stack": stack, "chunk_ids": chunk_ids})
    except ValidationError as error:
        field = (error.attr or "stack").split("__")[0]
        return _page(
            project,
            422,
            stack=stack,
            chunk_ids=chunk_text,
            error=error.detail,
            error_field=FIELD_OF.get(field, "stack"),
        )
    return _page(project, stack=stack, chunk_ids=chunk_text, frames=frames)
