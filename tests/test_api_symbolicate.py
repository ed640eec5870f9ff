"""POST /api/{environments,projects}/:project_id/error_tracking/symbolicate/ — resolving minified frames."""

import io
import json
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import ActivityLog, SymbolSet
from webapp.models.types import utcnow
from webapp.services import sourcemapcache_file, stack_traces, symbol_cache, symbolication
from webapp.services.symbol_data import Payload

from .symbol_blobs import source_map, symbol_data_blob
from .test_api_symbol_sets import ErrorTracking, assert_error, storage  # noqa: F401 (fixture)

CHUNK = "chunk-boom"
SCRIPT = "https://shop.example/assets/app.min.js"
# Where symbol_blobs.minified_source throws: `new Error` of `function boom(n){throw new Error(...)}`.
THROW_COLUMN = 31
CHROME_STACK = f"Error: boom 1\n    at boom ({SCRIPT}:1:{THROW_COLUMN})\n    at {SCRIPT}:1:58"


@pytest.fixture(autouse=True)
def fresh_cache(app, tmp_path):
    """A parsed-symbol cache of this test's own: a cached parse would hide what storage holds."""
    app.config["SYMBOL_CACHE_DIR"] = str(tmp_path / "symbol-cache")
    app.extensions.pop("symbol_cache", None)
    yield
    app.extensions.pop("symbol_cache", None)
    app.config["SYMBOL_CACHE_DIR"] = ""


@pytest.fixture
def et(client, auth, project_id):
    return ErrorTracking(client, auth, project_id)


def symbolicate(et, body, prefix="environments"):
    return et.client.post(
        f"/api/{prefix}/{et.project_id}/error_tracking/symbolicate/", headers=et.headers, json=body
    )


def resolved(et, body) -> list[dict]:
    response = symbolicate(et, body)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["frames"]


def row(app, ref) -> SymbolSet | None:
    with app.app_context():
        item = db.session.scalar(select(SymbolSet).where(SymbolSet.ref == ref))
        db.session.expunge_all()
        return item


@pytest.mark.parametrize("prefix", ["environments", "projects"])
def test_a_chrome_stack_resolves_through_the_chunk_id_map(app, et, prefix):
    uploaded = et.upload_set(CHUNK)
    response = symbolicate(et, {"stack": CHROME_STACK, "chunk_ids": {SCRIPT: CHUNK}}, prefix)
    assert response.status_code == 200, response.get_json()
    top, second = response.get_json()["frames"]
    assert top == {
        "resolved": True,
        "function": "boom",
        "source": "../src/app.ts",
        "line": 1,
        "column": 36,
        "context": {
            "pre": [],
            "line": 'export function boom(n: number) { throw new Error("boom " + n) }',
            "post": ["boom(1)", ""],
        },
        "symbol_set_id": uploaded["id"],
        "symbol_set_ref": CHUNK,
        "failure": None,
        "raw": {
            "filename": SCRIPT,
            "lineno": 1,
            "colno": THROW_COLUMN,
            "function": "boom",
            "chunk_id": CHUNK,
        },
    }
    assert second["resolved"] and second["source"] == "../src/app.ts" and second["line"] == 2


def test_a_failed_set_fails_its_frames_with_its_reason(app, et):
    frames = {"frames": [{"filename": SCRIPT, "lineno": 1, "colno": 5, "chunk_id": CHUNK}]}
    started = et.start({"chunk_id": CHUNK}).get_json()["id_map"][CHUNK]
    assert et.upload(started["presigned_url"], b"not symbols") == 204
    assert et.finish({started["symbol_set_id"]: None}).status_code == 400
    failure = resolved(et, frames)[0]["failure"]
    assert failure.startswith(
        f"The symbol set {CHUNK} has no usable file: The file is neither PostHog symbol data"
    )


def test_frames_name_their_chunk_or_are_found_by_their_url(app, et):
    et.upload_set(CHUNK)
    et.upload_set(SCRIPT)  # a set whose ref is the script URL, as PostHog names fetched maps
    frames = resolved(
        et,
        {
            "frames": [
                {
                    "filename": "https://elsewhere.example/x.js",
                    "lineno": 1,
                    "colno": THROW_COLUMN,
                    "chunk_id": CHUNK,
                },
                {"filename": SCRIPT, "lineno": 1, "colno": THROW_COLUMN, "function": "boom"},
            ]
        },
    )
    assert [(frame["resolved"], frame["symbol_set_ref"], frame["line"]) for frame in frames] == [
        (True, CHUNK, 1),
        (True, SCRIPT, 1),
    ]


def test_an_unknown_chunk_is_recorded_as_a_failed_set_once_and_a_later_upload_clears_it(app, et):
    body = {"stack": CHROME_STACK, "chunk_ids": {SCRIPT: "chunk-missing"}}
    frames = resolved(et, body)
    assert not frames[0]["resolved"]
    assert frames[0]["failure"] == (
        f"No symbol set was uploaded for chunk chunk-missing; a stack frame of {SCRIPT} needed it."
    )
    failed = et.get("symbol_sets/", status="failed").get_json()["results"]
    assert [(item["ref"], item["failure_reason"]) for item in failed] == [
        ("chunk-missing", frames[0]["failure"])
    ]
    assert frames[0]["symbol_set_id"] == failed[0]["id"]  # the set to fix, recorded by this request
    resolved(et, body)  # asked again: the failed set is already there, nothing is written
    with app.app_context():
        entries = db.session.scalars(
            select(ActivityLog.activity).where(ActivityLog.item_id == failed[0]["id"])
        )
        assert list(entries) == ["failed"]
    uploaded = et.upload_set("chunk-missing")
    assert (uploaded["id"], uploaded["status"], uploaded["failure_reason"]) == (
        failed[0]["id"],
        "uploaded",
        None,
    )
    assert resolved(et, body)[0]["resolved"]


def test_a_url_frame_without_chunk_records_the_url_and_never_fetches_it(app, et):
    frames = resolved(et, {"frames": [{"filename": SCRIPT, "lineno": 1, "colno": 5}]})
    assert "never fetches source maps" in frames[0]["failure"]
    assert row(app, SCRIPT).status == "failed"


def test_a_pending_set_fails_its_frames_and_is_recorded(app, et):
    started = et.start({"chunk_id": CHUNK})
    assert started.status_code == 201
    frames = resolved(et, {"stack": CHROME_STACK, "chunk_ids": {SCRIPT: CHUNK}})
    assert frames[0]["failure"] == f"The symbol set {CHUNK} has no file yet: its upload was not finished."
    assert frames[0]["symbol_set_id"] == started.get_json()["id_map"][CHUNK]["symbol_set_id"]
    assert "never finished" in row(app, CHUNK).failure_reason


def test_last_used_is_written_at_most_once_a_minute(app, et):
    et.upload_set(CHUNK)
    body = {"stack": CHROME_STACK, "chunk_ids": {SCRIPT: CHUNK}}
    resolved(et, body)
    first = row(app, CHUNK).last_used
    assert first is not None
    resolved(et, body)
    assert row(app, CHUNK).last_used == first
    with app.app_context():
        db.session.execute(SymbolSet.__table__.update().values(last_used=utcnow() - timedelta(minutes=2)))
        db.session.commit()
    resolved(et, body)
    assert row(app, CHUNK).last_used > first


def test_a_corrupt_stored_file_fails_its_frames_with_a_sentence(app, et, storage):  # noqa: F811
    et.upload_set(CHUNK)
    key = row(app, CHUNK).storage_ptr
    storage.delete(key)
    storage.put(key, io.BytesIO(b"posthog_error_tracking\x01\x00\x00\x00\x02\x00"), 1024)
    frames = resolved(et, {"stack": CHROME_STACK, "chunk_ids": {SCRIPT: CHUNK}})
    assert frames[0]["failure"].startswith(f"The stored file of symbol set {CHUNK} cannot be read: ")


def test_a_missing_stored_file_fails_its_frames(app, et, storage):  # noqa: F811
    et.upload_set(CHUNK)
    storage.delete(row(app, CHUNK).storage_ptr)
    frames = resolved(et, {"stack": CHROME_STACK, "chunk_ids": {SCRIPT: CHUNK}})
    assert frames[0]["failure"] == f"The stored file of symbol set {CHUNK} is missing; upload it again."


def test_a_position_outside_the_map_says_so(app, et):
    et.upload_set(CHUNK)
    frames = resolved(et, {"frames": [{"filename": SCRIPT, "lineno": 40, "colno": 1, "chunk_id": CHUNK}]})
    assert frames[0]["failure"] == f"Line 40, column 1 is not covered by the source map of {CHUNK}."


def test_the_second_resolution_reads_neither_storage_nor_parses_again(app, et, storage, monkeypatch):  # noqa: F811
    et.upload_set(CHUNK)
    body = {"stack": CHROME_STACK, "chunk_ids": {SCRIPT: CHUNK}}
    first = resolved(et, body)
    assert first[0]["resolved"]

    def refuse(*args, **kwargs):
        raise AssertionError("the parsed cache should have answered")

    monkeypatch.setattr(type(storage), "open", refuse)
    monkeypatch.setattr(symbol_cache.SourceMapCache, "from_bytes", refuse)
    assert resolved(et, body) == first
    # Another process (an empty memory level) maps the disk level's file: no storage read, no parse.
    app.extensions.pop("symbol_cache")
    assert resolved(et, body) == first
    (parsed,) = app.extensions["symbol_cache"]._memory.values()
    assert isinstance(parsed.cache, sourcemapcache_file.CacheFile)


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty", "old format"])
def test_a_damaged_cache_file_is_built_again(app, et, damage):
    et.upload_set(CHUNK)
    body = {"stack": CHROME_STACK, "chunk_ids": {SCRIPT: CHUNK}}
    first = resolved(et, body)
    cache = app.extensions.pop("symbol_cache")
    path = cache.path(row(app, CHUNK).content_hash)
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip":
        data[len(data) // 2] ^= 0x40
    elif damage == "empty":
        data = b""
    else:
        data[8] += 1  # the format version
    path.write_bytes(bytes(data))
    assert resolved(et, body) == first
    assert sourcemapcache_file.CacheFile(path).size == len(path.read_bytes())  # whole again


def test_without_symbolic_bytes_the_parsed_map_resolves_from_memory(app, et, monkeypatch):
    et.upload_set(CHUNK)
    body = {"stack": CHROME_STACK, "chunk_ids": {SCRIPT: CHUNK}}
    monkeypatch.setattr(symbol_cache.sourcemapcache_bytes, "serialized", lambda cache: None)
    frames = resolved(et, body)
    assert frames[0]["function"] == "boom" and frames[0]["line"] == 1
    (parsed,) = app.extensions["symbol_cache"]._memory.values()
    assert isinstance(parsed.cache, symbol_cache.SourceMapCache)
    assert not list(app.extensions["symbol_cache"].folder.glob("*.smcache"))


def test_the_disk_level_keeps_within_its_size_limit(tmp_path):
    single = symbol_cache.ParsedCache(tmp_path / "probe", disk_limit=10**6, memory_limit=0)
    single.get("probe", lambda: Payload(None, source_map(file="x" * 600)))
    size = single.path("probe").stat().st_size
    cache = symbol_cache.ParsedCache(tmp_path / "cache", disk_limit=3 * size, memory_limit=0)
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "old.parts").write_bytes(b"x" * 10)  # an older format's file goes first
    for number in range(5):
        document = source_map(file="x" * 600)
        cache.get(f"h{number}", lambda document=document: Payload(None, document))
    kept = sorted(path.name for path in (tmp_path / "cache").iterdir())
    assert sum(path.stat().st_size for path in (tmp_path / "cache").iterdir()) <= 3 * size
    assert kept == [f"h{number}{symbol_cache.SUFFIX}" for number in (2, 3, 4)]


def test_other_symbol_types_cannot_resolve_javascript_frames(app, et):
    et.upload_set(
        CHUNK, symbol_data_blob(b"com.example.App -> a.a:\n    1:1:void run():5:5 -> a\n", data_type=4)
    )
    frames = resolved(et, {"frames": [{"filename": SCRIPT, "lineno": 1, "colno": 1, "chunk_id": CHUNK}]})
    assert "holds a Proguard mapping" in frames[0]["failure"]


def test_firefox_and_safari_stacks_parse():
    firefox = f"boom@{SCRIPT}:1:{THROW_COLUMN}\nasync*@{SCRIPT}:1:58\n"
    safari = f"boom@{SCRIPT}:1:{THROW_COLUMN}\nglobal code@{SCRIPT}:1:58\n[native code]"
    for text in (firefox, safari):
        assert [(f.filename, f.lineno, f.colno, f.function) for f in stack_traces.parse(text)] == [
            (SCRIPT, 1, THROW_COLUMN, "boom"),
            (SCRIPT, 1, 58, None if text is firefox else "global code"),
        ]


def test_chrome_variants_parse():
    text = (
        "TypeError: x is undefined\n"
        f"    at async load ({SCRIPT}:3:4)\n"
        f"    at new Widget ({SCRIPT}:5:6)\n"
        f"    at eval (eval at run ({SCRIPT}:7:8), <anonymous>:1:1)\n"
        "    at Array.map (<anonymous>)\n"
        "    at native\n"
        "    at http://localhost:8000/a:b.js:9:10"
    )
    assert [(f.filename, f.lineno, f.colno, f.function) for f in stack_traces.parse(text)] == [
        (SCRIPT, 3, 4, "load"),
        (SCRIPT, 5, 6, "Widget"),
        (SCRIPT, 7, 8, "eval"),
        ("http://localhost:8000/a:b.js", 9, 10, None),
    ]


def test_a_stack_without_frames_answers_no_frames(et):
    assert resolved(et, {"stack": "Error: nothing to see"}) == []
    assert resolved(et, {"frames": []}) == []


def test_whole_numbers_written_as_decimals_are_whole_numbers(et):
    frames = resolved(et, {"frames": [{"filename": SCRIPT, "lineno": 1.0, "colno": 2.0}]})
    assert (frames[0]["raw"]["lineno"], frames[0]["raw"]["colno"]) == (1, 2)


@pytest.mark.parametrize(
    ("body", "attr", "code"),
    [
        ({}, None, "required"),
        ({"stack": CHROME_STACK, "frames": []}, None, "required"),
        ({"frames": [{"filename": SCRIPT, "lineno": 1, "colno": 1}] * 201}, "frames", "max_length"),
        ({"stack": "\n".join([f"    at f ({SCRIPT}:1:1)"] * 201)}, "stack", "max_length"),
        ({"stack": "x" * (symbolication.MAX_STACK_CHARACTERS + 1)}, "stack", "max_length"),
        ({"frames": [{"filename": SCRIPT, "lineno": 0, "colno": 1}]}, "frames__0__lineno", "invalid"),
        ({"frames": [{"filename": SCRIPT, "lineno": "1", "colno": 1}]}, "frames__0__lineno", "invalid"),
        ({"frames": [{"lineno": 1, "colno": 1}]}, "frames__0__filename", "required"),
        ({"stack": CHROME_STACK, "chunk_ids": ["x"]}, "chunk_ids", "invalid"),
        ({"stack": 5}, "stack", "invalid"),
        ({"stack": None, "frames": []}, "stack", "null"),
        ({"frames": [{"filename": SCRIPT, "lineno": 1.5, "colno": 1}]}, "frames__0__lineno", "invalid"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(et, body, attr, code):
    assert_error(symbolicate(et, body), 400, code, attr)


def test_a_body_past_the_limit_is_413(et):
    response = et.client.post(
        f"/api/environments/{et.project_id}/error_tracking/symbolicate/",
        headers={**et.headers, "Content-Type": "application/json"},
        data=json.dumps({"stack": "x" * (symbolication.BODY_LIMIT + 10)}),
    )
    assert response.status_code == 413
    assert set(response.get_json()) == {"type", "code", "detail", "attr"}


def test_it_needs_the_write_scope(et, make_key, user_id):
    read_only = {"Authorization": f"Bearer {make_key(user_id, scopes='error_tracking:read')}"}
    response = et.client.post(
        f"/api/environments/{et.project_id}/error_tracking/symbolicate/",
        headers=read_only,
        json={"stack": CHROME_STACK},
    )
    assert_error(response, 403, "permission_denied")
    assert "error_tracking:write" in response.get_json()["detail"]


def test_a_bare_source_map_set_resolves_without_function_scopes(app, et):
    et.upload_set(CHUNK, source_map())
    frames = resolved(
        et, {"frames": [{"filename": SCRIPT, "lineno": 1, "colno": THROW_COLUMN, "chunk_id": CHUNK}]}
    )
    assert (frames[0]["source"], frames[0]["line"]) == ("../src/app.ts", 1)


def test_hermes_maps_resolve_with_their_function_map(app, et):
    hermes = source_map(x_facebook_sources=[[{"names": ["<global>", "boom"], "mappings": "AAA,CCC"}]])
    et.upload_set(CHUNK, symbol_data_blob(hermes, data_type=3))
    frames = resolved(
        et,
        {
            "frames": [
                {"filename": "index.android.bundle", "lineno": 1, "colno": THROW_COLUMN, "chunk_id": CHUNK}
            ]
        },
    )
    assert frames[0]["resolved"] and frames[0]["source"] == "../src/app.ts"


def test_a_megabyte_line_made_to_backtrack_parses_at_once():
    started = time.monotonic()
    for text in ("at " + " (a" * 300_000, "at eval (eval at " + "(a:" * 300_000, "x@" * 500_000 + ":1:1"):
        stack_traces.parse(text)
    assert time.monotonic() - started < 2
