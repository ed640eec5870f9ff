"""The serialized bytes of a SourceMapCache symbolic has built, copied out so they can be kept in a file.

symbolic 13.9.0's Python binding builds a SourceMapCache (`from_bytes`: it decodes the map, runs the scope
analysis of the minified source that names functions, and serializes the result in symbolic's own cache
format, "SMCA" version 2) but has no call that hands those bytes back, and none that opens them again.
The parsed object holds them: its Rust struct is the byte buffer's owner followed by the parsed view of
it, a pointer to the header and one (pointer, length) pair per section (positions, locations, files,
line offsets, strings). `serialized` finds that view among the object's first words, accepts it only when
every pointer is exactly where the previous section ends and the header it points at agrees with every
length, and copies the buffer. Anything else (another symbolic version, another layout) gives None and
the caller keeps the parsed object in memory instead: nothing is dereferenced before the words check out.
"""

import struct

from symbolic._lowlevel import ffi
from symbolic.sourcemapcache import SourceMapCache

MAGIC = b"SMCA"
VERSION = 2
HEADER = struct.Struct("<4sIIIII8x")  # magic, version, mappings, files, line offsets, string bytes
POSITION_SIZE = 8  # line, column
LOCATION_SIZE = 20  # file, line, column, name, scope
FILE_SIZE = 16  # name, source, first and end line offset
LINE_OFFSET_SIZE = 4
# The parsed view: header pointer, then five (pointer, length) pairs; the owner may come first.
VIEW_WORDS = 11
WORDS_READ = VIEW_WORDS + 1


def align8(size: int) -> int:
    return (size + 7) & ~7


def section_sizes(mappings: int, files: int, line_offsets: int) -> tuple[int, int, int, int]:
    """Bytes from each section's start to the next one's: positions, locations, files, line offsets."""
    return (
        align8(POSITION_SIZE * mappings),
        align8(LOCATION_SIZE * mappings),
        align8(FILE_SIZE * files),
        align8(LINE_OFFSET_SIZE * line_offsets),
    )


def serialized(cache: SourceMapCache) -> bytes | None:
    """A copy of the cache's serialized form, or None when it cannot be found for certain."""
    pointer = cache._objptr
    if not pointer:
        return None
    words = ffi.cast("uint64_t *", pointer)
    read = [int(words[index]) for index in range(WORDS_READ)]
    for start in range(WORDS_READ - VIEW_WORDS + 1):
        found = _view(read[start : start + VIEW_WORDS])
        if found is not None:
            return found
    return None


def _view(words: list[int]) -> bytes | None:
    header, positions, mappings, locations, mappings_again, files, file_count = words[:7]
    line_offsets, line_offset_count, strings, string_bytes = words[7:]
    if header == 0 or mappings != mappings_again:
        return None
    if max(mappings, file_count, line_offset_count, string_bytes) >= 2**32:
        return None
    sizes = section_sizes(mappings, file_count, line_offset_count)
    if (
        positions != header + align8(HEADER.size)
        or locations != positions + sizes[0]
        or files != locations + sizes[1]
        or line_offsets != files + sizes[2]
        or strings != line_offsets + sizes[3]
    ):
        return None
    # The words form the view of one buffer: the header they point at is now safe to read.
    fields = HEADER.unpack(bytes(ffi.buffer(ffi.cast("char *", header), HEADER.size)))
    if fields != (MAGIC, VERSION, mappings, file_count, line_offset_count, string_bytes):
        return None
    return bytes(ffi.buffer(ffi.cast("char *", header), strings + string_bytes - header))
