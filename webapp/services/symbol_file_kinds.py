"""What kind of file an upload's first bytes look like: to tell someone who swapped the two slots."""

import re
from typing import BinaryIO

HEAD_BYTES = 4096
# JSON's opening brace, after an optional byte-order mark and the `)]}'` guard source maps may start with.
_JSON_OBJECT = re.compile(rb"\A(?:\xef\xbb\xbf)?\s*(?:\)\]\}'[^\n]*\n\s*)?\{")
_MAP_KEYS = re.compile(rb'"(?:version|mappings|sources|sections|names|file)"\s*:')
_JS_MARKERS = re.compile(
    rb"\bfunction\b|=>|\b(?:var|let|const|return|import|export|typeof)\b|sourceMappingURL|use strict"
)


def head(stream: BinaryIO) -> bytes:
    """The stream's first bytes; the stream is left at its start for whoever reads it next."""
    start = stream.tell()
    data = stream.read(HEAD_BYTES)
    stream.seek(start)
    return data


def looks_like_source_map(data: bytes) -> bool:
    return bool(_JSON_OBJECT.match(data) and _MAP_KEYS.search(data))


def looks_like_javascript(data: bytes) -> bool:
    """Text that is not a JSON object and reads like code (a source map is always a JSON object)."""
    return b"\0" not in data and not _JSON_OBJECT.match(data) and bool(_JS_MARKERS.search(data))


def swap_hint(minified_head: bytes, map_head: bytes) -> str | None:
    """A sentence when the minified slot holds a source map or the map slot holds JavaScript."""
    map_in_minified = looks_like_source_map(minified_head)
    code_in_map = looks_like_javascript(map_head)
    if map_in_minified and code_in_map:
        return (
            "The minified file looks like a source map and the source map like JavaScript: "
            "did you swap the files?"
        )
    if map_in_minified:
        return "The file chosen as the minified file looks like a source map; did you swap the files?"
    if code_in_map:
        return "The file chosen as the source map looks like JavaScript; did you swap the files?"
    return None
