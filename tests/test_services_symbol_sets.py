"""Symbol-set services called directly: the blob checks, failure reasons as sentences, expiry, mark-failed."""

import io
import re
import struct
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import ActivityLog, SymbolSet
from webapp.services import failure_reasons, symbol_data, symbol_sets, symbol_upload_expiry, symbol_uploads
from webapp.services.errors import ValidationError
from webapp.storage import get_storage

from .symbol_blobs import (
    MAGIC,
    SOURCE_AND_MAP,
    cli_blob,
    minified_source,
    source_and_map_payload,
    source_map,
    symbol_data_blob,
    zstd,
)


def inspect(data: bytes) -> symbol_data.SymbolDataInfo:
    return symbol_data.inspect(io.BytesIO(data))


# --- symbol_data.inspect: what the CLI sends ----------------------------------------------------------


@pytest.mark.parametrize(
    "blob",
    [
        cli_blob("chunk-1"),
        cli_blob("chunk-1", version=2, compression=0),
        cli_blob("chunk-1", version=1),
        MAGIC
        + struct.pack("<II", 2, SOURCE_AND_MAP)
        + b"\x01"
        + zstd(source_and_map_payload(minified_source("chunk-1"), source_map()), content_size=True),
    ],
    ids=["v2-zstd-streamed", "v2-uncompressed", "v1", "v2-zstd-with-content-size"],
)
def test_source_and_map_blobs_are_accepted_with_their_chunk_id(blob):
    info = inspect(blob)
    assert info == symbol_data.SymbolDataInfo(kind="symbol_data", data_type=2, chunk_id="chunk-1")


def test_chunk_id_is_read_from_the_last_line_even_with_a_trailing_newline():
    payload = source_and_map_payload(minified_source("abc-123") + b"\n", source_map())
    assert inspect(symbol_data_blob(payload)).chunk_id == "abc-123"


def test_a_source_without_chunk_id_comment_has_none():
    payload = source_and_map_payload(b"function a(){}", source_map())
    assert inspect(symbol_data_blob(payload, version=1)).chunk_id is None


def test_a_large_minified_source_is_checked_in_chunks():
    source = b"var x=1;" * (300 * 1024) + b"\n//# chunkId=big"
    assert len(source) > 2 * symbol_data.CHUNK
    assert inspect(symbol_data_blob(source_and_map_payload(source, source_map()))).chunk_id == "big"


def test_a_bare_source_map_is_accepted():
    assert inspect(source_map(release_id="r1")) == symbol_data.SymbolDataInfo(
        kind="source_map", data_type=None, chunk_id=None
    )


@pytest.mark.parametrize(
    ("data_type", "expected"),
    [
        (3, "The source map is not valid JSON"),
        (4, "The ProGuard mapping maps no classes"),
        (5, "The file is not a Mach-O (dSYM) file symbolic can read"),
        (6, "The file is not an ELF file symbolic can read"),
    ],
)
def test_other_symbol_types_are_parsed_not_just_their_header(data_type, expected):
    with pytest.raises(symbol_data.InvalidSymbolData, match=re.escape(expected)):
        inspect(symbol_data_blob(b"\x00payload bytes", data_type=data_type))


# --- symbol_data.inspect: broken files, each with a reason an admin can read ------------------------


def _payload(**map_overrides) -> bytes:
    return source_and_map_payload(minified_source("c"), source_map(**map_overrides))


def _v1(payload: bytes) -> bytes:
    return symbol_data_blob(payload, version=1)


NEITHER = (
    "neither PostHog symbol data (it does not start with the posthog_error_tracking header) nor a source map"
)
BROKEN = {
    "bad magic": (b"posthog_error_trackinX" + _v1(_payload())[len(MAGIC) :], NEITHER),
    "unsupported version": (MAGIC + struct.pack("<II", 3, 2) + _payload(), "version 3 is not supported"),
    "version zero": (MAGIC + struct.pack("<II", 0, 2) + _payload(), "version 0 is not supported"),
    "unknown type": (symbol_data_blob(b"x", version=1, data_type=9), "type 9 is unknown"),
    "unknown compression": (symbol_data_blob(_payload(), compression=7), "Compression flag 7 is unknown"),
    "header cut short": (MAGIC + b"\x02\x00\x00", "ends in the middle of the header"),
    "no compression flag": (MAGIC + struct.pack("<II", 2, 2), "ends in the middle of the compression flag"),
    "not zstd": (
        MAGIC + struct.pack("<II", 2, 2) + b"\x01" + b"definitely not zstd",
        "cannot be decompressed",
    ),
    "zstd cut short": (
        MAGIC + struct.pack("<II", 2, 2) + b"\x01" + zstd(_payload(), content_size=True)[:-20],
        "The file ends in the middle of",
    ),
    "source length cut short": (_v1(b"\x05\x00\x00"), "ends in the middle of the minified source length"),
    "source shorter than its length": (
        _v1(struct.pack("<Q", 1000) + b"function a(){}"),
        "ends in the middle of the minified source",
    ),
    "no map length": (_v1(struct.pack("<Q", 3) + b"a()"), "ends in the middle of the source map length"),
    "map shorter than its length": (
        _v1(struct.pack("<Q", 3) + b"a()" + struct.pack("<Q", 500) + b"{}"),
        "ends in the middle of the source map",
    ),
    "absurd map length": (
        _v1(struct.pack("<Q", 3) + b"a()" + struct.pack("<Q", 2**62) + b"{}"),
        "source map is larger than",
    ),
    "bytes after the map": (_v1(_payload() + b"junk"), "unexpected bytes after the source map"),
    "empty minified source": (_v1(source_and_map_payload(b"", source_map())), "minified source is empty"),
    "map not JSON": (
        _v1(source_and_map_payload(b"a()", b"{not json")),
        "source map is not valid JSON",
    ),
    "map not UTF-8": (_v1(source_and_map_payload(b"a()", b'{"version": 3, "x": "\xff\xfe"}')), "not UTF-8"),
    "map is a JSON list": (_v1(source_and_map_payload(b"a()", b"[1, 2]")), "not a source map object"),
    "map without mappings": (_v1(_payload(mappings=...)), "no 'mappings' field"),
    "map without sources or version": (
        _v1(_payload(sources=..., version=...)),
        "no 'version' or 'sources' field",
    ),
    "mappings not text": (_v1(_payload(mappings=[1, 2])), "mappings must be text"),
    "empty hermes map": (
        symbol_data_blob(b"", data_type=3, compression=0),
        "Hermes source map payload is empty",
    ),
    "bare binary file": (b"\x00\x01 binary garbage \xff", NEITHER),
    "bare JSON list": (b"[1, 2]", NEITHER),
    "bare JSON object cut short": (b'{"version": 3, "mappings": "AA', "The file is not valid JSON"),
    "bare JSON object not UTF-8": (b'{"version": 3, "x": "\xff"}', "The file is not UTF-8 text"),
    "bare JSON that is no source map": (
        b'{"hello": "world"}',
        "no 'version' or 'mappings' or 'sources' field",
    ),
    "empty file": (b"", NEITHER),
}


@pytest.mark.parametrize("name", list(BROKEN))
def test_broken_blobs_are_refused_with_a_readable_reason(name):
    data, expected = BROKEN[name]
    with pytest.raises(symbol_data.InvalidSymbolData) as caught:
        inspect(data)
    message = str(caught.value)
    assert expected in message
    # A sentence for an admin: no Python reprs of bytes, no tracebacks.
    assert message[0].isupper() and message.endswith(".")
    assert "b'" not in message and "Traceback" not in message


def test_a_decompression_bomb_is_refused(monkeypatch):
    monkeypatch.setattr(symbol_data, "MAX_DECOMPRESSED_BYTES", 1000)
    payload = source_and_map_payload(b"a" * 5000, source_map())
    with pytest.raises(symbol_data.InvalidSymbolData, match="larger than the data allows"):
        inspect(symbol_data_blob(payload))


def test_write_source_and_map_builds_a_blob_the_checks_accept():
    source, map_bytes = minified_source("from-browser"), source_map()
    out = io.BytesIO()
    written = symbol_data.write_source_and_map(
        out, io.BytesIO(source), len(source), io.BytesIO(map_bytes), len(map_bytes)
    )
    assert out.getvalue() == _v1(source_and_map_payload(source, map_bytes))
    assert written == len(out.getvalue())
    assert inspect(out.getvalue()).chunk_id == "from-browser"


# --- failure_reasons.describe ---------------------------------------------------------------------------


def test_posthog_no_sourcemap_reason_is_a_sentence_naming_the_url():
    sentence = failure_reasons.describe('{"JavaScript":{"NoSourcemap":"https://x/app.js"}}')
    assert "https://x/app.js" in sentence
    assert "source map" in sentence
    assert sentence.endswith(".") and "{" not in sentence


@pytest.mark.parametrize(
    "reason, expected",
    [
        (
            '{"JavaScript": {"SourcemapNotFound": "https://cdn/app.js.map"}}',
            "No source map was found at https://cdn/app.js.map.",
        ),
        ('{"JavaScript": {"HttpStatus": 404}}', "Fetching the source or map returned HTTP status 404."),
        (
            '{"JavaScript": {"InvalidSourceMap": "missing field `mappings`"}}',
            "The source map is not valid: missing field `mappings`.",
        ),
        ('{"JavaScript": "InvalidAbsPath"}', "JavaScript symbolication failed: invalid abs path."),
        (
            '{"Hermes": {"SomethingNew": "detail here"}}',
            "Hermes symbolication failed: something new (detail here).",
        ),
        (
            '{"Proguard": {"MissingClass": ["a.B", "c.D"]}}',
            "Proguard symbolication failed: missing class (a.B, c.D).",
        ),
        (
            '{"JavaScript": {"Weird": 1, "Shape": 2}}',
            'JavaScript symbolication failed: {"Shape": 2, "Weird": 1}.',
        ),
    ],
)
def test_posthog_json_reasons_become_sentences(reason, expected):
    assert failure_reasons.describe(reason) == expected


@pytest.mark.parametrize(
    "reason",
    [
        "The source map has no 'mappings' field.",
        "not json {",
        "[1, 2]",
        '"just a string"',
        '{"two": 1, "keys": 2}',
        "42",
    ],
)
def test_plain_reasons_are_shown_as_they_are(reason):
    assert failure_reasons.describe(reason) == reason


def test_no_reason_describes_as_none():
    assert failure_reasons.describe(None) is None


# --- expire_pending and mark_failed ------------------------------------------------------------------

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LIFETIME_AND_GRACE = timedelta(seconds=symbol_uploads.UPLOAD_URL_SECONDS) + symbol_uploads.EXPIRY_GRACE


def add_set(project, ref, **fields) -> SymbolSet:
    """A row as the services leave it: a pending upload holds a staging key, a checked file a final key."""
    if fields.get("upload_started_at"):
        fields.setdefault("upload_key", f"staging/symbol_sets/{project.id}/{ref}/1")
    if fields.get("content_hash"):
        fields.setdefault("storage_ptr", f"symbol_sets/{project.id}/{ref}/1")
    item = SymbolSet(project_id=project.id, ref=ref, **fields)
    db.session.add(item)
    db.session.commit()
    return item


def reload(item) -> SymbolSet:
    db.session.expire_all()
    return db.session.scalar(select(SymbolSet).where(SymbolSet.id == item.id))


def activities(item) -> list[tuple[str, str, dict]]:
    """(scope, activity, detail) of one set's entries, oldest first."""
    rows = db.session.scalars(
        select(ActivityLog).where(ActivityLog.item_id == str(item.id)).order_by(ActivityLog.id)
    )
    return [(row.scope, row.activity, row.detail) for row in rows]


def test_expire_pending_fails_uploads_never_finished(project):
    stale = add_set(project, "stale", upload_started_at=T0)
    just_in_time = add_set(project, "recent", upload_started_at=T0 + timedelta(seconds=1))
    now = T0 + LIFETIME_AND_GRACE + timedelta(seconds=1)

    assert symbol_upload_expiry.expire_pending(now=now) == 1

    stale, just_in_time = reload(stale), reload(just_in_time)
    assert stale.status == "failed"
    assert stale.failed_at == now
    assert "never finished" in stale.failure_reason
    assert "2026-03-01 12:00 UTC" in stale.failure_reason
    assert just_in_time.status == "pending" and just_in_time.failure_reason is None
    [(scope, activity, detail)] = activities(stale)
    assert (scope, activity, detail["name"]) == ("SymbolSet", "failed", "stale")
    assert detail["changes"] == [{"field": "failure_reason", "before": None, "after": stale.failure_reason}]
    assert activities(just_in_time) == []


def test_expire_pending_keeps_uploads_within_the_url_lifetime_and_grace(project):
    item = add_set(project, "in-flight", upload_started_at=T0)
    assert symbol_upload_expiry.expire_pending(now=T0 + LIFETIME_AND_GRACE) == 0
    assert symbol_upload_expiry.expire_pending(now=T0 + timedelta(minutes=5)) == 0
    assert reload(item).status == "pending"


def test_expire_pending_leaves_uploaded_and_already_failed_sets_alone(project):
    uploaded = add_set(project, "done", content_hash="a" * 128, size_bytes=10)
    failed = add_set(project, "bad", failure_reason="The source map is not valid JSON.", failed_at=T0)
    never_started = add_set(project, "marked", upload_started_at=None)

    assert symbol_upload_expiry.expire_pending(now=T0 + timedelta(days=30)) == 0

    assert reload(uploaded).status == "uploaded"
    assert reload(failed).failure_reason == "The source map is not valid JSON."
    assert reload(never_started).status == "pending"


def test_an_expired_replacement_keeps_the_checked_file_and_drops_the_staging_object(project):
    storage = get_storage()
    item = add_set(project, "in-use", content_hash="a" * 128, size_bytes=10, upload_started_at=T0)
    storage.put(item.upload_key, io.BytesIO(b"never finished"), 100)
    staging, before = item.upload_key, (item.storage_ptr, item.content_hash, item.size_bytes)

    assert symbol_upload_expiry.expire_pending(now=T0 + timedelta(days=1)) == 1

    item = reload(item)
    assert (item.status, item.upload_key, item.failure_reason) == ("uploaded", None, None)
    assert (item.storage_ptr, item.content_hash, item.size_bytes) == before
    assert storage.head(staging) is None
    [(_, activity, detail)] = activities(item)
    assert activity == "upload_failed"
    assert "never finished" in detail["reason"]


def test_expire_pending_honours_a_custom_grace(project):
    item = add_set(project, "a", upload_started_at=T0)
    now = T0 + timedelta(seconds=symbol_uploads.UPLOAD_URL_SECONDS + 61)
    assert symbol_upload_expiry.expire_pending(now=now, grace=timedelta(minutes=2)) == 0
    assert symbol_upload_expiry.expire_pending(now=now, grace=timedelta(minutes=1)) == 1
    assert reload(item).status == "failed"


def test_mark_failed_creates_the_set_when_the_ref_is_unknown(project):
    reason = '{"JavaScript":{"NoSourcemap":"https://x/app.js"}}'
    item = symbol_sets.mark_failed(project, "never-uploaded-chunk", reason)

    item = reload(item)
    assert (item.ref, item.project_id, item.status) == ("never-uploaded-chunk", project.id, "failed")
    assert item.failure_reason == reason  # kept raw; describe() turns it into a sentence for display
    assert item.failed_at is not None and item.content_hash is None
    assert [a[:2] for a in activities(item)] == [("SymbolSet", "failed")]
    assert db.session.scalar(select(db.func.count()).select_from(SymbolSet)) == 1


def test_mark_failed_on_an_uploaded_set_keeps_its_file_and_records_the_change(project):
    item = add_set(project, "chunk", content_hash="b" * 128, size_bytes=5)
    symbol_sets.mark_failed(project, "chunk", "  Token not found at 1:200.  ")

    item = reload(item)
    assert item.status == "failed"
    assert item.failure_reason == "Token not found at 1:200."
    assert item.content_hash == "b" * 128
    [(_, activity, detail)] = activities(item)
    assert activity == "failed"
    assert detail["changes"] == [
        {"field": "failure_reason", "before": None, "after": "Token not found at 1:200."}
    ]


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_mark_failed_needs_a_reason(project, reason):
    with pytest.raises(ValidationError) as caught:
        symbol_sets.mark_failed(project, "chunk", reason)
    assert caught.value.attr == "reason"
    assert db.session.scalar(select(db.func.count()).select_from(SymbolSet)) == 0


@pytest.mark.parametrize("ref", ["", "   ", "x" * 401, None])
def test_mark_failed_needs_a_usable_ref(project, ref):
    with pytest.raises(ValidationError):
        symbol_sets.mark_failed(project, ref, "reason")
    assert db.session.scalar(select(db.func.count()).select_from(SymbolSet)) == 0
