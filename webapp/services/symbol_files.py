"""What an uploaded symbol file holds, read with Sentry's `symbolic`: the upload check for every type.

describe() parses the payload with symbolic (a source map with its source-map parser, a
ProGuard mapping, a native debug file) and returns what an admin wants to see on the set's page, or
raises InvalidSymbolData with a sentence saying why the file cannot be used.
"""

import json
import os
import tempfile
from typing import Any

import symbolic
from symbolic.debuginfo import Archive
from symbolic.proguard import ProguardMapper
from symbolic.sourcemap import SourceMapView

SOURCE_AND_MAP, HERMES_MAP, PROGUARD, DSYM, ELF = 2, 3, 4, 5, 6
NATIVE_FORMATS = {DSYM: ("macho", "a Mach-O (dSYM) file"), ELF: ("elf", "an ELF file")}
NIL_DEBUG_ID = "00000000-0000-0000-0000-000000000000"


class InvalidSymbolData(Exception):
    """The bytes are not a usable symbol set; the message says why, for an admin to read."""


def describe(payload) -> dict:
    """Parse `payload` (symbol_data.Payload) with symbolic; return what it holds for the detail page."""
    if payload.data_type == PROGUARD:
        return _proguard(payload.data)
    if payload.data_type in NATIVE_FORMATS:
        return _native(payload.data, payload.data_type)
    contents = _describe_map(payload)
    # symbolic's source-map parser (resolution builds its cache from the same bytes, on first use: its
    # scope analysis of the minified source costs far more than this check should). The map's parsed
    # JSON is gone by now, so the memory of the two parses does not add up.
    try:
        SourceMapView.from_json_bytes(payload.data)
    except symbolic.SymbolicError as error:
        raise InvalidSymbolData(f"The source map cannot be read by symbolic ({error}).") from None
    return contents


def _describe_map(payload) -> dict:
    """What the map's JSON says (checked first: its reasons are clearer than symbolic's parser errors)."""
    document = _load_source_map(payload.data, "file" if payload.data_type is None else "source map")
    contents = _source_map(document)
    if payload.data_type == HERMES_MAP:
        contents["function_map"] = "x_facebook_sources" in document
    if payload.source is not None:
        _check_belongs_together(payload.source, payload.chunk_id, document)
    return contents


def _load_source_map(data: bytes, what: str) -> dict:
    """The source map's JSON object; InvalidSymbolData saying why when it is not one."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidSymbolData(f"The {what} is not UTF-8 text.") from None
    try:
        document = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as error:
        detail = f" ({error.msg} at line {error.lineno})" if isinstance(error, json.JSONDecodeError) else ""
        raise InvalidSymbolData(f"The {what} is not valid JSON{detail}.") from None
    if not isinstance(document, dict):
        raise InvalidSymbolData(f"The {what} is JSON but not a source map object.")
    missing = [field for field in ("version", "mappings", "sources") if field not in document]
    if missing:
        raise InvalidSymbolData(f"The source map has no {' or '.join(repr(f) for f in missing)} field.")
    if not isinstance(document["mappings"], str) or not isinstance(document["sources"], list):
        raise InvalidSymbolData("The source map's mappings must be text and its sources a list.")
    return document


def _source_map(document: dict) -> dict:
    """What the map holds, from its JSON (symbolic's parse, in describe, is the check that it is usable)."""
    sources = document.get("sources")
    if not isinstance(sources, list) or not sources:
        raise InvalidSymbolData("The source map lists no sources, so no frame can be resolved to one.")
    contents = document.get("sourcesContent")
    contents = contents if isinstance(contents, list) else []
    return {
        "format": "source map",
        "sources": len(sources),
        "sources_with_content": sum(1 for text in contents[: len(sources)] if isinstance(text, str)),
        "file": document.get("file") if isinstance(document.get("file"), str) else None,
    }


def _check_belongs_together(source: bytes, chunk_id: str | None, document: dict) -> None:
    """The map must describe this minified source: its chunk id, and no lines the source lacks."""
    map_chunk = document.get("chunk_id")
    if isinstance(map_chunk, str) and chunk_id and map_chunk != chunk_id:
        raise InvalidSymbolData(
            f"The minified source is marked chunkId={chunk_id} but its source map says chunk_id={map_chunk}: "
            "they are not from the same build."
        )
    mapped_lines = _mapped_lines(document["mappings"])
    source_lines = source.count(b"\n") + 1
    if mapped_lines > source_lines:
        raise InvalidSymbolData(
            f"The source map maps {mapped_lines} lines but the minified source has {source_lines}: "
            "the map belongs to another file."
        )


def _mapped_lines(mappings: str) -> int:
    """Lines the mappings cover (trailing empty lines aside), counted without splitting a large string."""
    end = len(mappings)
    while end and mappings[end - 1] == ";":
        end -= 1
    return mappings.count(";", 0, end) + 1 if mappings else 0


def _proguard(data: bytes) -> dict:
    # symbolic opens ProGuard mappings by path only.
    handle, path = tempfile.mkstemp(suffix=".txt")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        try:
            mapper = ProguardMapper.open(path)
        except symbolic.SymbolicError as error:
            raise InvalidSymbolData(f"The ProGuard mapping cannot be read ({error}).") from None
        classes = sum(
            1 for line in data.splitlines() if line.rstrip().endswith(b":") and line[:1] not in b" \t#"
        )
        if not classes:
            raise InvalidSymbolData(
                "The ProGuard mapping maps no classes (no 'original -> obfuscated:' lines)."
            )
        if not mapper.has_line_info:
            raise InvalidSymbolData(
                "The ProGuard mapping has no line mappings, so stack traces cannot be resolved to lines "
                "(keep the LineNumberTable attribute when shrinking)."
            )
        return {
            "format": "ProGuard mapping",
            "classes": classes,
            "line_mappings": True,
            "debug_id": str(mapper.uuid),
        }
    finally:
        os.unlink(path)


def _native(data: bytes, data_type: int) -> dict:
    expected, name = NATIVE_FORMATS[data_type]
    try:
        archive = Archive.from_bytes(data)
        objects = list(archive.iter_objects())  # `data` must stay alive while symbolic reads it
    except symbolic.SymbolicError as error:
        raise InvalidSymbolData(f"The file is not {name} symbolic can read ({error}).") from None
    if not objects:
        raise InvalidSymbolData(f"The file is not {name}: it holds no object.")
    found = [_object(item) for item in objects]
    if any(item["file_format"] != expected for item in found):
        raise InvalidSymbolData(f"The file is {found[0]['file_format']}, not {name}.")
    with_debug = [item for item in found if item["has_debug_info"]]
    if not with_debug:
        raise InvalidSymbolData(
            "The file has no debug information (no DWARF): it was stripped or built without -g."
        )
    if all(item["debug_id"] in (None, NIL_DEBUG_ID) for item in with_debug):
        raise InvalidSymbolData("The file has no debug id (build with a GNU build id or an LC_UUID).")
    first = with_debug[0]
    return {
        "format": name.removeprefix("a ").removeprefix("an "),
        "debug_id": first["debug_id"],
        "code_id": first["code_id"],
        "arch": ", ".join(item["arch"] for item in found),
        "objects": len(found),
    }


def _object(item: Any) -> dict:
    return {
        "arch": item.arch,
        "debug_id": item.debug_id,
        "code_id": item.code_id,
        "file_format": item.file_format,
        "has_debug_info": "debug" in item.features,
    }
