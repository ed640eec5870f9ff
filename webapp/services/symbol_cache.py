"""Parsed symbol files kept for the next resolution, keyed by content hash (a checked file never changes).

Two levels:
- memory: symbolic's parsed SourceMapCache objects per process, least recently used dropped past
  SYMBOL_CACHE_MEMORY_BYTES (counted as the size of the parts they were built from);
- disk: the payload's parts, decompressed and split (minified source, map), in SYMBOL_CACHE_DIR, the
  least recently used files deleted past SYMBOL_CACHE_MAX_BYTES, so another worker or a restart
  parses without reading object storage or decompressing again.
symbolic's Python binding can build a source-map cache but cannot write its bytes out, so the parse
itself is what the memory level saves.
"""

import contextlib
import os
import struct
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import symbolic
from flask import current_app
from symbolic.sourcemapcache import SourceMapCache

from .symbol_data import HERMES_MAP, SOURCE_AND_MAP, TYPE_NAMES, InvalidSymbolData, Payload

JS_TYPES = (None, SOURCE_AND_MAP, HERMES_MAP)
_PARTS = struct.Struct("<iQ")  # data type (-1: bare map), minified source length; then source, map


@dataclass
class Parsed:
    """A file ready to resolve frames: a source-map cache, or why it cannot resolve JavaScript frames."""

    cache: SourceMapCache | None
    problem: str | None = None


class ParsedCache:
    def __init__(self, folder: str | os.PathLike, disk_limit: int, memory_limit: int):
        self.folder = Path(folder)
        self.disk_limit = disk_limit
        self.memory_limit = memory_limit
        self._memory: OrderedDict[str, tuple[Parsed, int]] = OrderedDict()
        self._memory_bytes = 0
        self._lock = threading.Lock()

    def get(self, content_hash: str, load: Callable[[], Payload]) -> Parsed:
        """The parsed file; `load` reads it from storage when neither level has it.

        Raises InvalidSymbolData (or the store's errors) from `load` and the parse.
        """
        with self._lock:
            hit = self._memory.get(content_hash)
            if hit is not None:
                self._memory.move_to_end(content_hash)
                return hit[0]
        payload = self._read_disk(content_hash)
        if payload is None:
            payload = load()
            self._write_disk(content_hash, payload)
        parsed = _parse(payload)
        self._remember(content_hash, parsed, len(payload.data) + len(payload.source or b""))
        return parsed

    def _remember(self, content_hash: str, parsed: Parsed, cost: int) -> None:
        with self._lock:
            if content_hash in self._memory or cost > self.memory_limit:
                return
            self._memory[content_hash] = (parsed, cost)
            self._memory_bytes += cost
            while self._memory_bytes > self.memory_limit:
                _, (_, dropped) = self._memory.popitem(last=False)
                self._memory_bytes -= dropped

    def _path(self, content_hash: str) -> Path:
        return self.folder / f"{content_hash}.parts"

    def _read_disk(self, content_hash: str) -> Payload | None:
        path = self._path(content_hash)
        try:
            with path.open("rb") as stream:
                data_type, source_length = _PARTS.unpack(stream.read(_PARTS.size))
                source = stream.read(source_length) if data_type == SOURCE_AND_MAP else None
                data = stream.read()
            os.utime(path)  # recently used: evicted last
        except (OSError, struct.error):
            return None
        return Payload(None if data_type < 0 else data_type, data, source)

    def _write_disk(self, content_hash: str, payload: Payload) -> None:
        """Best effort: a full or read-only disk only means the next resolution reads storage again."""
        if payload.data_type not in JS_TYPES:
            return
        source = payload.source or b""
        size = _PARTS.size + len(source) + len(payload.data)
        if size > self.disk_limit:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.folder, prefix=".partial-")
            with os.fdopen(handle, "wb") as out:
                data_type = -1 if payload.data_type is None else payload.data_type
                out.write(_PARTS.pack(data_type, len(source)))
                out.write(source)
                out.write(payload.data)
            os.replace(temporary, self._path(content_hash))
            self._evict()
        except OSError:
            current_app.logger.warning("Could not write the symbol cache in %s", self.folder, exc_info=True)

    def _evict(self) -> None:
        entries = []
        for entry in os.scandir(self.folder):
            if entry.name.endswith(".parts"):
                info = entry.stat()
                entries.append((info.st_mtime, info.st_size, entry.path))
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries):
            if total <= self.disk_limit:
                break
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            total -= size


def _parse(payload: Payload) -> Parsed:
    if payload.data_type not in JS_TYPES:
        return Parsed(
            None,
            f"it holds a {TYPE_NAMES[payload.data_type]}, and only JavaScript source maps (and Hermes maps) "
            "resolve these frames",
        )
    try:
        return Parsed(SourceMapCache.from_bytes(payload.source or b"", payload.data))
    except symbolic.SymbolicError as error:
        raise InvalidSymbolData(f"symbolic cannot read its source map ({error})") from None


def get_cache() -> ParsedCache:
    """The app's cache, made on first use from its configuration."""
    app = current_app._get_current_object()
    cache = app.extensions.get("symbol_cache")
    if cache is None:
        folder = app.config.get("SYMBOL_CACHE_DIR") or os.path.join(app.instance_path, "symbol-cache")
        limits = (int(app.config["SYMBOL_CACHE_MAX_BYTES"]), int(app.config["SYMBOL_CACHE_MEMORY_BYTES"]))
        cache = ParsedCache(folder, *limits)
        app.extensions["symbol_cache"] = cache
    return cache
