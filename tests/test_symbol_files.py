"""Every symbol-data type parsed with symbolic on upload, on real files made here (gcc, ProGuard, maps)."""

import io
import json
import re
import shutil
import subprocess
import tracemalloc

import pytest

from webapp.services import symbol_data, symbol_files

from .symbol_blobs import minified_source, source_and_map_payload, source_map, symbol_data_blob

C_PROGRAM = "int add(int a, int b) { return a + b; }\nint main(void) { return add(1, 2); }\n"
PROGUARD = (
    "# compiler: R8\n"
    "com.example.app.MainActivity -> a.a:\n"
    "    int counter -> a\n"
    "    1:3:void onCreate(android.os.Bundle):12:14 -> a\n"
    "com.example.app.Util -> a.b:\n"
    "    4:4:java.lang.String format(int):30:30 -> b\n"
)


def inspect(data: bytes) -> symbol_data.SymbolDataInfo:
    return symbol_data.inspect(io.BytesIO(data))


def refused(data: bytes, reason: str) -> None:
    with pytest.raises(symbol_data.InvalidSymbolData, match=re.escape(reason)):
        inspect(data)


@pytest.fixture(scope="module")
def elf(tmp_path_factory):
    """An executable with DWARF and a GNU build id, and the same stripped of its debug info."""
    if shutil.which("gcc") is None:
        pytest.fail("gcc is needed to build the ELF files these tests check (apt-get install gcc)")
    folder = tmp_path_factory.mktemp("elf")
    (folder / "add.c").write_text(C_PROGRAM)
    subprocess.run(["gcc", "-g", "-Wl,--build-id=sha1", "-o", folder / "add", folder / "add.c"], check=True)
    subprocess.run(["objcopy", "--strip-debug", folder / "add", folder / "add.stripped"], check=True)
    notes = subprocess.run(["readelf", "-n", folder / "add"], check=True, capture_output=True, text=True)
    build_id = re.search(r"Build ID: ([0-9a-f]+)", notes.stdout).group(1)
    return (folder / "add").read_bytes(), (folder / "add.stripped").read_bytes(), build_id


def test_an_elf_with_debug_info_records_its_debug_id_and_architecture(elf):
    with_debug, _, build_id = elf
    contents = inspect(symbol_data_blob(with_debug, data_type=6)).contents
    assert contents["format"] == "ELF file"
    assert contents["code_id"] == build_id
    # The debug id is the build id's first 16 bytes as a little-endian GUID, as symbolic (and Sentry) read it.
    first = bytes.fromhex(build_id[:32])
    guid = first[3::-1] + first[5:3:-1] + first[7:5:-1] + first[8:]
    assert contents["debug_id"].replace("-", "") == guid.hex()
    assert contents["arch"] == "x86_64"


def test_a_stripped_elf_is_refused(elf):
    _, stripped, _ = elf
    refused(symbol_data_blob(stripped, data_type=6), "The file has no debug information (no DWARF)")


def test_an_elf_sent_as_a_dsym_is_refused(elf):
    with_debug, _, _ = elf
    refused(symbol_data_blob(with_debug, data_type=5), "The file is elf, not a Mach-O (dSYM) file.")


def test_a_proguard_mapping_with_line_mappings(elf):
    contents = inspect(symbol_data_blob(PROGUARD.encode(), data_type=4)).contents
    assert (contents["format"], contents["classes"], contents["line_mappings"]) == (
        "ProGuard mapping",
        2,
        True,
    )
    assert re.fullmatch(r"[0-9a-f-]{36}", contents["debug_id"])


def test_a_proguard_mapping_without_line_mappings_is_refused():
    mapping = "com.example.app.MainActivity -> a.a:\n    void onCreate(android.os.Bundle) -> a\n"
    refused(symbol_data_blob(mapping.encode(), data_type=4), "The ProGuard mapping has no line mappings")


def test_a_hermes_map_records_its_function_map():
    hermes = source_map(x_facebook_sources=[[{"names": ["<global>", "boom"], "mappings": "AAA,CCC"}]])
    contents = inspect(symbol_data_blob(hermes, data_type=3)).contents
    assert contents["function_map"] is True and contents["sources"] == 1


def test_a_source_map_records_its_sources_and_content():
    info = inspect(symbol_data_blob(source_and_map_payload(minified_source("c1"), source_map("c1"))))
    assert info.contents == {
        "format": "source map",
        "sources": 1,
        "sources_with_content": 1,
        "file": "app.min.js",
    }
    without = source_map(sourcesContent=...)
    assert inspect(without).contents["sources_with_content"] == 0


def test_a_map_of_another_build_is_refused():
    refused(
        symbol_data_blob(source_and_map_payload(minified_source("c1"), source_map("c2"))),
        "The minified source is marked chunkId=c1 but its source map says chunk_id=c2",
    )


def test_a_map_with_more_lines_than_the_source_is_refused():
    longer = source_map(mappings="AAAA;AAAA;AAAA;AAAA;AAAA;AAAA")
    refused(
        symbol_data_blob(source_and_map_payload(minified_source("c1"), longer)),
        "The source map maps 6 lines but the minified source has 3",
    )


def test_a_map_symbolic_cannot_decode_is_refused():
    refused(source_map(mappings="!!!"), "The source map cannot be read by symbolic")
    refused(source_map(sources=[], sourcesContent=[], mappings=""), "lists no sources")


def test_the_contents_are_json():
    info = inspect(symbol_data_blob(PROGUARD.encode(), data_type=4))
    assert json.loads(json.dumps(info.contents)) == info.contents


def test_symbolic_parses_the_map_after_its_json_is_gone(monkeypatch):
    # Python holds the map's bytes while symbolic parses them, not also its parsed JSON (a map's worth
    # more, on top of symbolic's own parse).
    text = "export const value = 1;\n" * 350_000  # 8 MiB of sourcesContent
    document = json.loads(source_map())
    document["sourcesContent"] = [text]
    map_bytes = json.dumps(document).encode()
    stream = io.BytesIO(symbol_data_blob(source_and_map_payload(minified_source("c1"), map_bytes), version=1))
    held = []
    parse = symbol_files.SourceMapView.from_json_bytes

    def measured(data):
        held.append(tracemalloc.get_traced_memory()[0])
        return parse(data)

    monkeypatch.setattr(symbol_files.SourceMapView, "from_json_bytes", measured)
    tracemalloc.start()
    try:
        info = symbol_data.inspect(stream)
    finally:
        tracemalloc.stop()
    assert info.contents["sources_with_content"] == 1
    assert held and held[0] < 1.3 * len(map_bytes), f"{held[0] / len(map_bytes):.2f} maps held"


@pytest.mark.parametrize("mappings", ["", ";", ";;;", "A", "A;", "A;;B", ";A;B;;", "AAAA,CAAC;;EAAE;"])
def test_mapped_lines_count_as_splitting_them_would(mappings):
    assert symbol_files._mapped_lines(mappings) == (len(mappings.rstrip(";").split(";")) if mappings else 0)
