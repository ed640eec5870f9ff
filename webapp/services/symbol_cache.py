"""Parsed symbol files kept for the next resolution, keyed by content hash (a checked file never changes).

Two levels:
- disk: symbolic's source-map cache of each file (sourcemapcache_file: the bytes symbolic serialized
  when it parsed the file, with its scope analysis), written once, when the file is first resolved, to
  SYMBOL_CACHE_DIR; the least recently used files are deleted past SYMBOL_CACHE_MAX_BYTES. Every process
  (the other gunicorn workers, the next start) maps it and resolves at once: no storage read, no
  decompression, no parse. A file that fails its checks (truncated, overwritten) is deleted and built again.
- memory: per process, the open cache files (or, when symbolic's bytes could not be kept, symbolic's
  parsed object itself), the least recently used dropped past SYMBOL_CACHE_MEMORY_BYTES (counted as the
  size of the cache file, or of the parts the object was built from).
"""

import contextlib
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import symbolic
from flask import current_app
from symbolic.sourcemapcache import SourceMapCache

from . import sourcemapcache_bytes, sourcemapcache_file
from .symbol_data import HERMES_MAP, SOURCE_AND_MAP, TYPE_NAMES, InvalidSymbolData, Payload

JS_TYPES = (None, SOURCE_AND_MAP, HERMES_MAP)
# The format is in the name, so a new format never reads an old file (they age out of the folder).
SUFFIX = f".v{sourcemapcache_file.FORMAT_VERSION}.smcache"
ABANDONED_AFTER_SECONDS = 3600
# What a remembered "cannot resolve" answer counts for, so the memory level holds a bounded number of them.
PROBLEM_COST = 1024
log = logging.getLogger(__name__)


@dataclass
class Parsed:
    """A file ready to resolve frames (`cache.lookup(line, col, context_lines)`), or why it cannot
    resolve JavaScript frames; `cost` is what it counts for in the memory level."""

    cache: Any  # sourcemapcache_file.CacheFile, or symbolic's SourceMapCache
    problem: str | None = None
    cost: int = 0


class ParsedCache:
    def __init__(self, folder: str | os.PathLike, disk_limit: int, memory_limit: int):
        self.folder = Path(folder)
        self.disk_limit = disk_limit
        self.memory_limit = memory_limit
        self._memory: OrderedDict[str, Parsed] = OrderedDict()
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
                return hit
        parsed = self._open(content_hash)
        if parsed is None:
            parsed = self._build(content_hash, load())
        self._remember(content_hash, parsed)
        return parsed

    def _remember(self, content_hash: str, parsed: Parsed) -> None:
        with self._lock:
            if content_hash in self._memory or parsed.cost > self.memory_limit:
                return
            self._memory[content_hash] = parsed
            self._memory_bytes += parsed.cost
            while self._memory_bytes > self.memory_limit:
                # Dropped, not closed: a request still resolving through it keeps it alive.
                _, dropped = self._memory.popitem(last=False)
                self._memory_bytes -= dropped.cost

    def path(self, content_hash: str) -> Path:
        return self.folder / f"{content_hash}{SUFFIX}"

    def _open(self, content_hash: str) -> Parsed | None:
        path = self.path(content_hash)
        try:
            opened = sourcemapcache_file.CacheFile(path)
        except FileNotFoundError:
            return None
        except sourcemapcache_file.CorruptCacheFile as error:
            log.warning("Building a damaged symbol cache file again: %s", error)
            with contextlib.suppress(OSError):
                os.unlink(path)
            return None
        except OSError:
            log.warning("Could not read the symbol cache file %s", path, exc_info=True)
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: evicted last
        return Parsed(opened, cost=opened.size)

    def _build(self, content_hash: str, payload: Payload) -> Parsed:
        if payload.data_type not in JS_TYPES:
            return Parsed(
                None,
                f"it holds a {TYPE_NAMES[payload.data_type]}, and only JavaScript source maps (and Hermes "
                "maps) resolve these frames",
                cost=PROBLEM_COST,
            )
        try:
            parsed = SourceMapCache.from_bytes(payload.source or b"", payload.data)
        except symbolic.SymbolicError as error:
            raise InvalidSymbolData(f"symbolic cannot read its source map ({error})") from None
        kept = self._keep(content_hash, parsed)
        if kept is not None:
            return kept
        return Parsed(parsed, cost=len(payload.data) + len(payload.source or b""))

    def _keep(self, content_hash: str, parsed: SourceMapCache) -> Parsed | None:
        """Write symbolic's bytes to the disk level and open them; None when they cannot be kept (the
        parsed object then serves this process). A full or read-only disk is not an error."""
        serialized = sourcemapcache_bytes.serialized(parsed)
        if serialized is None:
            log.warning("symbolic's source-map cache bytes were not found: kept in memory only")
            return None
        if len(serialized) + sourcemapcache_file.HEADER.size > self.disk_limit:
            return None
        path = self.path(content_hash)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            sourcemapcache_file.write(path, serialized)
            opened = sourcemapcache_file.CacheFile(path)
        except (OSError, sourcemapcache_file.CorruptCacheFile):
            log.warning("Could not write the symbol cache in %s", self.folder, exc_info=True)
            return None
        self._evict()
        return Parsed(opened, cost=opened.size)

    def _evict(self) -> None:
        """Delete the least recently used files past the size limit (files of older formats count too;
        a temporary file counts once it is older than any write takes: its writer died)."""
        entries, writing = [], time.time() - ABANDONED_AFTER_SECONDS
        try:
            for entry in os.scandir(self.folder):
                info = entry.stat()
                if entry.is_file() and (not entry.name.startswith(".partial-") or info.st_mtime < writing):
                    entries.append((info.st_mtime, info.st_size, entry.path))
        except OSError:
            return
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries):
            if total <= self.disk_limit:
                break
            # A process that has the file open keeps its mapping; the name goes.
            with contextlib.suppress(OSError):
                os.unlink(path)
            total -= size


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
