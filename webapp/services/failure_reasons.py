"""Failure reasons as sentences: our own are sentences already; PostHog's JSON ones are translated."""

import json
import re

# PostHog's symbolication errors, serialized as {"<Platform>": {"<Variant>": detail}}
# or {"<Platform>": "<Variant>"}.
SENTENCES = {
    "NoSourcemap": (
        "The minified file {detail} has no sourceMappingURL comment, so its source map could not be found."
    ),
    "SourcemapNotFound": "No source map was found at {detail}.",
    "NoSourcemapUploaded": "No source map was uploaded for chunk {detail}.",
    "InvalidSourceMap": "The source map is not valid: {detail}.",
    "InvalidSourceMapHeader": "The SourceMap header of {detail} is not valid.",
    "InvalidSourceMapUrl": "The source map URL {detail} is not valid.",
    "InvalidSourceUrl": "The source URL {detail} is not valid.",
    "InvalidDataUrl": "The inline data: URL source map is not valid: {detail}.",
    "SourceNotFound": "The minified source {detail} could not be fetched.",
    "TokenNotFound": "The stack frame's position was not found in the source map ({detail}).",
    "Timeout": "Fetching {detail} timed out.",
    "NetworkError": "Fetching the source or map failed: {detail}.",
    "HttpStatus": "Fetching the source or map returned HTTP status {detail}.",
    "BadStatus": "Fetching the source or map returned HTTP status {detail}.",
    "ChunkNotFound": "No symbol set was uploaded for chunk {detail}.",
    "MissingSymbols": "The uploaded symbols do not cover this frame: {detail}.",
}


def _words(name: str) -> str:
    """'InvalidSourceMap' -> 'invalid source map'."""
    return re.sub(r"(?<!^)(?=[A-Z])", " ", name).lower()


def _detail_text(detail) -> str:
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        return ", ".join(_detail_text(item) for item in detail)
    return json.dumps(detail, sort_keys=True)


def describe(reason: str | None) -> str | None:
    """A sentence an admin can act on."""
    if reason is None:
        return None
    try:
        parsed = json.loads(reason)
    except (json.JSONDecodeError, RecursionError):
        return reason
    if not isinstance(parsed, dict) or len(parsed) != 1:
        return reason
    platform, error = next(iter(parsed.items()))
    if isinstance(error, str):
        variant, detail = error, None
    elif isinstance(error, dict) and len(error) == 1:
        variant, detail = next(iter(error.items()))
    else:
        return f"{platform} symbolication failed: {_detail_text(error)}."
    template = SENTENCES.get(variant)
    if template and detail is not None:
        return template.format(detail=_detail_text(detail))
    sentence = f"{platform} symbolication failed: {_words(variant)}"
    return f"{sentence} ({_detail_text(detail)})." if detail is not None else f"{sentence}."
