"""/api/{environments,projects}/:project_id/error_tracking/ — symbol sets and releases."""

from flask import current_app, g, jsonify, request

from ..ratelimit import counts_as_upload
from ..services import releases, symbol_direct_upload, symbol_sets, symbol_upload_checks, symbol_uploads
from ..services.errors import ValidationError
from . import serializers
from .auth import project_endpoint
from .request_data import reads_own_body, request_body
from .routing import ApiBlueprint
from .uploads import form_files, streamed_file

bp = ApiBlueprint("error_tracking_api", __name__)


def _limits():
    return current_app.config["API_DEFAULT_LIMIT"], current_app.config["API_MAX_LIMIT"]


@bp.get("/error_tracking/symbol_sets/")
@project_endpoint("error_tracking")
def list_symbol_sets():
    query = symbol_sets.parse_list_query(request.args, *_limits())
    return jsonify(serializers.page(symbol_sets.list_symbol_sets(g.project, query), serializers.symbol_set))


@bp.post("/error_tracking/symbol_sets/")
@counts_as_upload
@reads_own_body
@project_endpoint("error_tracking")
def direct_upload():
    """Deprecated: `?chunk_id=&release_id=` with the symbol data as multipart part `file`, or the raw body."""
    upload = symbol_direct_upload.parse_direct_upload(
        g.project, request.args.get("chunk_id"), request.args.get("release_id")
    )
    stream = streamed_file("file", symbol_uploads.MAX_UPLOAD_BYTES)
    symbol_direct_upload.direct_upload(g.project, g.api_user, upload, stream)
    return jsonify(ok=True), 201


@bp.get("/error_tracking/symbol_sets/<symbol_set_id>/")
@project_endpoint("error_tracking")
def retrieve_symbol_set(symbol_set_id):
    return jsonify(serializers.symbol_set(symbol_sets.get_symbol_set(g.project, symbol_set_id)))


@bp.route("/error_tracking/symbol_sets/<symbol_set_id>/", methods=["PUT", "PATCH"])
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
        g.project, g.api_user, item.id, minified.stream, source_map.stream
    )
    return jsonify(serializers.symbol_set(item))


@bp.delete("/error_tracking/symbol_sets/<symbol_set_id>/")
@project_endpoint("error_tracking")
def delete_symbol_set(symbol_set_id):
    symbol_sets.delete_symbol_set(g.project, g.api_user, symbol_set_id)
    return "", 204


@bp.post("/error_tracking/symbol_sets/bulk_delete/")
@project_endpoint("error_tracking")
def bulk_delete():
    ids = request_body().get("ids")
    if not isinstance(ids, list):
        ids = [ids] if isinstance(ids, str) else None
    if not ids:
        raise ValidationError("ids", "required", "Send ids: a list of symbol set ids.")
    return jsonify(deleted=symbol_sets.delete_symbol_sets(g.project, g.api_user, ids))


@bp.get("/error_tracking/symbol_sets/<symbol_set_id>/download/")
@project_endpoint("error_tracking")
def download(symbol_set_id):
    return jsonify(url=symbol_sets.download_url(g.project, symbol_set_id))


def _issued(upload) -> dict:
    return {
        "presigned_url": {"url": upload.presigned_url.url, "fields": upload.presigned_url.fields},
        "symbol_set_id": upload.symbol_set_id,
    }


@bp.post("/error_tracking/symbol_sets/bulk_start_upload/")
@counts_as_upload
@project_endpoint("error_tracking")
def bulk_start_upload():
    issued = symbol_uploads.start_uploads(g.project, g.api_user, request_body())
    return jsonify(id_map={upload.chunk_id: _issued(upload) for upload in issued}), 201


@bp.post("/error_tracking/symbol_sets/bulk_check_upload/")
@project_endpoint("error_tracking")
def bulk_check_upload():
    return jsonify(chunk_ids_to_upload=symbol_uploads.check_uploads(g.project, request_body()))


@bp.post("/error_tracking/symbol_sets/bulk_finish_upload/")
@counts_as_upload
@project_endpoint("error_tracking")
def bulk_finish_upload():
    symbol_upload_checks.finish_uploads(g.project, g.api_user, request_body())
    return jsonify(success=True), 201


@bp.post("/error_tracking/symbol_sets/start_upload/")
@counts_as_upload
@project_endpoint("error_tracking")
def start_upload():
    """Deprecated single-chunk form: `?chunk_id=&release_id=`."""
    upload = symbol_uploads.start_single_upload(
        g.project, g.api_user, request.args.get("chunk_id"), request.args.get("release_id")
    )
    return jsonify(_issued(upload)), 201


@bp.put("/error_tracking/symbol_sets/<symbol_set_id>/finish_upload/")
@counts_as_upload
@project_endpoint("error_tracking")
def finish_upload(symbol_set_id):
    """Deprecated single-set form."""
    symbol_upload_checks.finish_single_upload(g.project, g.api_user, symbol_set_id, request_body())
    return jsonify(success=True)


@bp.get("/error_tracking/releases/")
@project_endpoint("error_tracking")
def list_releases():
    query = releases.LIST_SPEC.parse(request.args, *_limits())
    return jsonify(serializers.page(releases.list_releases(g.project, query), serializers.release))


@bp.post("/error_tracking/releases/")
@project_endpoint("error_tracking")
def create_release():
    return jsonify(serializers.release(releases.create_release(g.project, request_body()))), 201


@bp.get("/error_tracking/releases/hash/<hash_id>/")
@project_endpoint("error_tracking")
def release_by_hash(hash_id):
    return jsonify(serializers.release(releases.get_by_hash(g.project, hash_id)))


@bp.get("/error_tracking/releases/<release_id>/")
@project_endpoint("error_tracking")
def retrieve_release(release_id):
    return jsonify(serializers.release(releases.get_release(g.project, release_id)))
