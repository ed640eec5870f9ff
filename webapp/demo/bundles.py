"""Demo bundles: minified chunks as the PostHog CLI leaves them, real source maps, and broken variants."""

import io
import json
import uuid
from dataclasses import dataclass

from ..services import symbol_data
from .content import APP_URL, Module

# What the PostHog CLI injects and appends (cli/src/sourcemaps/constant.rs); chunk ids are uuid5 of the
# minified bytes in the CLI's namespace, so the refs look like the ones a real build uploads.
CHUNK_ID_NAMESPACE = uuid.UUID(int=0x0E9B3C7A5D1F42A8B6C4E2D0F8A17593)
CHUNK_ID_SNIPPET = (
    '!function(){try{var e="undefined"!=typeof window?window:"undefined"!=typeof global?global:'
    '"undefined"!=typeof globalThis?globalThis:"undefined"!=typeof self?self:{},n=(new e.Error).stack;'
    'n&&(e._posthogChunkIds=e._posthogChunkIds||{},e._posthogChunkIds[n]="__POSTHOG_CHUNK_ID__")}'
    "catch(e){}}();"
)
NOT_FOUND_PAGE = (
    b'<!DOCTYPE html>\n<html lang="en"><head><title>404 Not Found</title></head>'
    b"<body><h1>Not Found</h1><p>The requested URL was not found on this server.</p></body></html>\n"
)
_BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _vlq(value: int) -> str:
    """One source-map Base64 VLQ number."""
    value = (-value << 1) | 1 if value < 0 else value << 1
    digits = ""
    while True:
        digit, value = value & 31, value >> 5
        digits += _BASE64[digit | (32 if value else 0)]
        if not value:
            return digits


@dataclass(frozen=True)
class Bundle:
    chunk_id: str
    file_name: str
    source: bytes
    source_map: dict


def build_bundle(module: Module, build_hash: str, release_id: uuid.UUID | None) -> Bundle:
    """A minified chunk as the PostHog CLI leaves it after `sourcemap inject`, with a real source map."""
    original = (
        f"export function {module.function}({module.argument}) {{\n"
        f"  const total = {module.argument}.items.reduce("
        "(sum, item) => sum + item.price * item.quantity, 0);\n"
        "  if (total <= 0) {\n"
        f"    throw new Error({json.dumps(module.message)});\n"
        "  }\n"
        f"  return {{ label: `{module.label} ${{total.toFixed(2)}}`, disabled: false }};\n"
        "}\n"
    )
    # (minified code, original line, original column) of each statement.
    statements = (
        (f"export function {module.function}(t){{", 0, 0),
        ("const e=t.items.reduce((t,e)=>t+e.price*e.quantity,0);", 1, 2),
        ("if(e<=0)", 2, 2),
        (f"throw new Error({json.dumps(module.message)});", 3, 4),
        (f"return{{label:`{module.label} ${{e.toFixed(2)}}`,disabled:!1}}}}", 5, 2),
    )
    file_name = f"{module.chunk}.{build_hash}.js"
    code = "".join(piece for piece, _, _ in statements)
    trailer = f"\n//# sourceMappingURL={file_name}.map"
    chunk_id = str(uuid.uuid5(CHUNK_ID_NAMESPACE, code + trailer))
    snippet = CHUNK_ID_SNIPPET.replace('"__POSTHOG_CHUNK_ID__"', json.dumps(chunk_id))
    segments, column, previous = [], len(snippet), (0, 0, 0)
    for piece, line, original_column in statements:
        segments.append(
            _vlq(column - previous[0])
            + _vlq(0)
            + _vlq(line - previous[1])
            + _vlq(original_column - previous[2])
        )
        previous = (column, line, original_column)
        column += len(piece)
    source_map = {
        "version": 3,
        "file": file_name,
        "sources": [f"webpack://acme-web/./{module.path}"],
        "sourcesContent": [original],
        "names": [],
        "mappings": ",".join(segments),
        "chunk_id": chunk_id,
    }
    if release_id is not None:
        source_map["release_id"] = str(release_id)
    source = f"{snippet}{code}{trailer}\n//# chunkId={chunk_id}"
    return Bundle(chunk_id, file_name, source.encode(), source_map)


def symbol_data_blob(source: bytes, source_map: bytes) -> bytes:
    """The bytes `posthog-cli sourcemap upload` sends for one chunk."""
    out = io.BytesIO()
    symbol_data.write_source_and_map(
        out, io.BytesIO(source), len(source), io.BytesIO(source_map), len(source_map)
    )
    return out.getvalue()


def contents(blob: bytes) -> dict:
    """What the upload check records that a good demo blob holds (shown on the set's page)."""
    return symbol_data.inspect(io.BytesIO(blob)).contents


def rejection(blob: bytes) -> str:
    """The reason the upload check gives for a broken demo blob (the very sentence a real upload gets)."""
    try:
        symbol_data.inspect(io.BytesIO(blob))
    except symbol_data.InvalidSymbolData as error:
        return str(error)
    raise ValueError("the broken demo blob passed the upload check")


def broken_map(kind: str, bundle: Bundle) -> bytes:
    """A source map as broken builds upload it: the server's 404 page, no mappings, or cut off."""
    if kind == "not_json":
        return NOT_FOUND_PAGE
    if kind == "no_mappings":
        return json.dumps(
            {key: value for key, value in bundle.source_map.items() if key != "mappings"}
        ).encode()
    whole = json.dumps(bundle.source_map).encode()
    return whole[: len(whole) // 2]


def symbolicator_reason(kind: str, bundle: Bundle) -> str:
    """A failure in PostHog's JSON form, as an external symbolicator records it with `mark-failed`."""
    url = f"{APP_URL}/static/chunks/{bundle.file_name}"
    variant, detail = {
        "no_sourcemap": ("NoSourcemap", url),
        "sourcemap_not_found": ("SourcemapNotFound", f"{url}.map"),
        "timeout": ("Timeout", f"{url}.map"),
    }[kind]
    return json.dumps({"JavaScript": {variant: detail}})
