"""/api/{environments,projects}/:project_id/error_tracking/ — symbol sets and releases."""

from flask import g, jsonify, request

from ..ratelimit import counts_as_upload
from ..services import (
    inputs,
    releases,
    symbol_direct_upload,
    symbol_sets,
    symbol_upload_checks,
    symbol_uploads,
    symbolication,
)
from ..services.listing import last_value
from . import contract, serializers
from .auth import api_limits, api_user, project_endpoint
from .contract import operation
from .request_data import body_limit, reads_own_body, request_body
from .routing import ApiBlueprint
from .uploads import form_files, streamed_file

bp = ApiBlueprint("error_tracking_api", __name__)

# The deprecated one-chunk forms name the chunk in the query string.
START_QUERY = (
    contract.query_parameter("chunk_id", symbol_uploads.CHUNK_ID_SCHEMA, "The chunk id.", required=True),
    contract.query_parameter("release_id", symbol_uploads.RELEASE_ID_SCHEMA, "A release of this project."),
)
FILE = {"type": "string", "format": "binary", "contentMediaType": "application/octet-stream"}


@bp.get("/error_tracking/symbol_sets/")
@operation(
    "List symbol sets",
    query=symbol_sets.LIST_SPEC,
    responses={200: serializers.Paginated[serializers.SymbolSetOut]},
)
@project_endpoint("error_tracking")
def list_symbol_sets():
    return jsonify(symbol_sets_page(g.project, request))


def symbol_sets_page(project, request) -> dict:
    """The list's answer to a request (a Werkzeug request: fast_reads.py serves it too)."""
    query = symbol_sets.parse_list_query(request.args, *api_limits())
    return serializers.page(
        symbol_sets.list_symbol_sets(project, query, raw=True), serializers.symbol_set_rows, request
    )


@bp.post("/error_tracking/symbol_sets/")
@operation(
    "Upload one chunk's symbol data in the request (deprecated: use bulk_start_upload)",
    description=(
        "The file is the multipart part `file`, or the whole body. It is checked as a finished upload is: "
        "bytes that are not valid symbol data are refused (400) and recorded on the set; an uploaded chunk "
        "gets the new file only if it passes."
    ),
    query=START_QUERY,
    body_content={
        "multipart/form-data": {
            "schema": {"type": "object", "properties": {"file": FILE}, "required": ["file"]},
        },
        "application/octet-stream": {"schema": FILE},
    },
    responses={201: serializers.Ok},
    deprecated=True,
)
@counts_as_upload
@reads_own_body
@project_endpoint("error_tracking")
def direct_upload():
    """Deprecated: `?chunk_id=&release_id=` with the symbol data as multipart part `file`, or the raw body."""
    upload = symbol_direct_upload.parse_direct_upload(
        g.project, last_value(request.args, "chunk_id"), last_value(request.args, "release_id")
    )
    stream = streamed_file("file", symbol_uploads.MAX_UPLOAD_BYTES)
    symbol_direct_upload.direct_upload(g.project, api_user(), upload, stream)
    return jsonify(ok=True), 201


@bp.get("/error_tracking/symbol_sets/<symbol_set_id>/")
@operation("Get a symbol set", responses={200: serializers.SymbolSetOut})
@project_endpoint("error_tracking")
def retrieve_symbol_set(symbol_set_id):
    return jsonify(serializers.symbol_set(symbol_sets.get_symbol_set(g.project, symbol_set_id)))


@bp.route("/error_tracking/symbol_sets/<symbol_set_id>/", methods=["PUT", "PATCH"])
@operation(
    "Replace a symbol set's file with a minified source and its source map",
    description="Checked before it is swapped in: files that fail leave the set's current file in use.",
    body_content={
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"minified": FILE, "source_map": FILE},
                "required": ["minified", "source_map"],
            }
        }
    },
    responses={200: serializers.SymbolSetOut},
)
@counts_as_upload
@reads_own_body
@project_endpoint("error_tracking")
def replace_symbol_set(symbol_set_id):
    """Replace the set's file with multipart `minified` + `source_map`, checked before it is swapped in."""
    item = symbol_sets.get_symbol_set(g.project, symbol_set_id)  # an unknown id is 404 before the body
    minified, source_map = form_files(
        {"minified": "the minified source", "source_map": "its source map"},
        symbol_upload_checks.REPLACE_BODY_LIMIT,
        symbol_upload_checks.REPLACE_TOO_LARGE,
    )
    item = symbol_upload_checks.replace_from_files(
        g.project, api_user(), item.id, minified.stream, source_map.stream
    )
    return jsonify(serializers.symbol_set(item))


@bp.delete("/error_tracking/symbol_sets/<symbol_set_id>/")
@operation("Delete a symbol set and its file", responses={204: None})
@project_endpoint("error_tracking")
def delete_symbol_set(symbol_set_id):
    symbol_sets.delete_symbol_set(g.project, api_user(), symbol_set_id)
    return "", 204


@bp.post("/error_tracking/symbol_sets/bulk_delete/")
@operation(
    "Delete several symbol sets and their files",
    body=symbol_sets.BulkDeleteInput,
    responses={200: serializers.Deleted},
)
@project_endpoint("error_tracking")
def bulk_delete():
    ids = inputs.parse(symbol_sets.BulkDeleteInput, request_body()).ids
    return jsonify(deleted=symbol_sets.delete_symbol_sets(g.project, api_user(), ids))


@bp.get("/error_tracking/symbol_sets/<symbol_set_id>/download/")
@operation(
    "A short-lived download URL for the set's checked file",
    description="Counts as a use of the set (last_used). 404 when the set has no checked file.",
    responses={200: serializers.DownloadUrl},
    # Recording the use is a write.
    errors=(409,),
)
@project_endpoint("error_tracking")
def download(symbol_set_id):
    return jsonify(url=symbol_sets.download_url(g.project, symbol_set_id))


def _issued(upload) -> dict:
    return {
        "presigned_url": {"url": upload.presigned_url.url, "fields": upload.presigned_url.fields},
        "symbol_set_id": upload.symbol_set_id,
    }


@bp.post("/error_tracking/symbol_sets/bulk_start_upload/")
@operation(
    "Start uploads: one presigned upload URL per chunk id to (re-)upload",
    description=(
        "Chunks already uploaded with the same content_hash are left out of id_map; with different "
        "content the request is refused (content_hash_mismatch) unless force or skip_on_conflict is set."
    ),
    body=symbol_uploads.StartUploadInput,
    body_required=False,
    responses={201: serializers.StartedUploads},
)
@counts_as_upload
@project_endpoint("error_tracking")
def bulk_start_upload():
    issued = symbol_uploads.start_uploads(g.project, api_user(), request_body())
    return jsonify(id_map={upload.chunk_id: _issued(upload) for upload in issued}), 201


@bp.post("/error_tracking/symbol_sets/bulk_check_upload/")
@operation(
    "Which chunk ids a start request would issue upload URLs for (creates nothing)",
    body=symbol_uploads.StartUploadInput,
    body_required=False,
    responses={200: serializers.ChunksToUpload},
    writes=False,
)
@project_endpoint("error_tracking")
def bulk_check_upload():
    return jsonify(chunk_ids_to_upload=symbol_uploads.check_uploads(g.project, request_body()))


@bp.post("/error_tracking/symbol_sets/bulk_finish_upload/")
@operation(
    "Finish uploads: check each uploaded file against its content hash and swap it in",
    body=symbol_upload_checks.FinishUploadInput,
    body_required=False,
    responses={201: serializers.Success},
)
@counts_as_upload
@project_endpoint("error_tracking")
def bulk_finish_upload():
    symbol_upload_checks.finish_uploads(g.project, api_user(), request_body())
    return jsonify(success=True), 201


@bp.post("/error_tracking/symbol_sets/start_upload/")
@operation(
    "Start one upload (deprecated: use bulk_start_upload)",
    query=START_QUERY,
    responses={201: serializers.IssuedUpload},
    deprecated=True,
)
@counts_as_upload
@project_endpoint("error_tracking")
def start_upload():
    """Deprecated single-chunk form: `?chunk_id=&release_id=`."""
    upload = symbol_uploads.start_single_upload(
        g.project, api_user(), last_value(request.args, "chunk_id"), last_value(request.args, "release_id")
    )
    return jsonify(_issued(upload)), 201


@bp.put("/error_tracking/symbol_sets/<symbol_set_id>/finish_upload/")
@operation(
    "Finish one upload (deprecated: use bulk_finish_upload)",
    body=symbol_upload_checks.FinishOneInput,
    responses={200: serializers.Success},
    deprecated=True,
)
@counts_as_upload
@project_endpoint("error_tracking")
def finish_upload(symbol_set_id):
    """Deprecated single-set form."""
    symbol_upload_checks.finish_single_upload(g.project, api_user(), symbol_set_id, request_body())
    return jsonify(success=True)


@bp.post("/error_tracking/symbolicate/")
@operation(
    "Resolve minified JavaScript stack frames to their original source",
    description=(
        "Send `stack` (Error.stack text as Chrome, Firefox or Safari print it) or `frames`, and optionally "
        "`chunk_ids` (script URL: chunk id, as posthog-js builds it). Each frame's symbol set is the one "
        "whose ref is its chunk id, else its file URL; URLs are never fetched. Answers one result per frame, "
        "top first, with 1-based lines and columns. A frame whose chunk has no usable set records a failed "
        f"set for that ref. At most {symbolication.MAX_FRAMES} frames and "
        f"{symbolication.MAX_STACK_CHARACTERS // 1024 // 1024} MiB of stack text; a stack without frames "
        "answers no frames."
    ),
    body=symbolication.SymbolicateInput,
    responses={200: serializers.Symbolicated},
)
@body_limit(symbolication.BODY_LIMIT)
@project_endpoint("error_tracking")
def symbolicate():
    return jsonify(frames=symbolication.symbolicate(g.project, api_user(), request_body()))


@bp.get("/error_tracking/releases/")
@operation(
    "List releases", query=releases.LIST_SPEC, responses={200: serializers.Paginated[serializers.ReleaseOut]}
)
@project_endpoint("error_tracking")
def list_releases():
    return jsonify(releases_page(g.project, request))


def releases_page(project, request) -> dict:
    """The list's answer to a request (a Werkzeug request: fast_reads.py serves it too)."""
    query = releases.LIST_SPEC.parse(request.args, *api_limits())
    return serializers.page(
        releases.list_releases(project, query, raw=True), serializers.release_rows, request
    )


@bp.post("/error_tracking/releases/")
@operation(
    "Create a release",
    description="A hash_id this project has already is refused (400, code unique).",
    body=releases.ReleaseInput,
    responses={201: serializers.ReleaseOut},
)
@project_endpoint("error_tracking")
def create_release():
    return jsonify(serializers.release(releases.create_release(g.project, request_body()))), 201


@bp.get("/error_tracking/releases/hash/<hash_id>/")
@operation("Get a release by its hash_id", responses={200: serializers.ReleaseOut}, errors=(400,))
@project_endpoint("error_tracking")
def release_by_hash(hash_id):
    return jsonify(serializers.release(releases.get_by_hash(g.project, hash_id)))


@bp.get("/error_tracking/releases/<release_id>/")
@operation("Get a release", responses={200: serializers.ReleaseOut})
@project_endpoint("error_tracking")
def retrieve_release(release_id):
    return jsonify(serializers.release(releases.get_release(g.project, release_id)))


@bp.route("/error_tracking/releases/<release_id>/", methods=["PATCH", "PUT"])
@operation(
    "Change a release",
    description=(
        "PUT and PATCH alike, as PostHog's server: an omitted or null version, project or hash_id keeps "
        "its value; metadata is stored as sent. A hash_id another release has is refused (400, code unique)."
    ),
    body=releases.ReleaseUpdateInput,
    body_required=False,
    responses={204: None},
)
@project_endpoint("error_tracking")
def update_release(release_id):
    """PUT and PATCH alike keep what the body leaves out, and answer 204, as PostHog's server does."""
    releases.update_release(g.project, release_id, request_body())
    return "", 204


@bp.delete("/error_tracking/releases/<release_id>/")
@operation(
    "Delete a release",
    description="Its symbol sets stay, without a release (PostHog deletes them with it).",
    responses={204: None},
)
@project_endpoint("error_tracking")
def delete_release(release_id):
    releases.delete_release(g.project, release_id)
    return "", 204
