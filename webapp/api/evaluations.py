"""/api/{environments,projects}/:project_id/evaluations/"""

from flask import g, jsonify, request

from ..services import evaluations
from . import serializers
from .auth import api_limits, api_user, project_endpoint
from .contract import operation
from .errors import ApiError
from .request_data import request_body
from .routing import ApiBlueprint, other_methods

bp = ApiBlueprint("evaluations_api", __name__)


@bp.get("/evaluations/")
@operation(
    "List evaluations",
    description="Archived (deleted) evaluations are not listed.",
    query=evaluations.LIST_SPEC,
    responses={200: serializers.Paginated[serializers.EvaluationOut]},
)
@project_endpoint("evaluation")
def list_evaluations():
    return jsonify(evaluations_page(g.project, request))


def evaluations_page(project, request) -> dict:
    """The list's answer to a request (a Werkzeug request: fast_reads.py serves it too)."""
    query = evaluations.parse_list_query(request.args, *api_limits())
    return serializers.page(
        evaluations.list_evaluations(project, query, raw=True), serializers.evaluation_rows, request
    )


@bp.post("/evaluations/")
@operation(
    "Create an evaluation", body=evaluations.EvaluationInput, responses={201: serializers.EvaluationOut}
)
@project_endpoint("evaluation")
def create_evaluation():
    item = evaluations.create_evaluation(g.project, api_user(), request_body())
    return jsonify(serializers.evaluation(item)), 201


@bp.get("/evaluations/<evaluation_id>/")
@operation("Get an evaluation", responses={200: serializers.EvaluationOut})
@project_endpoint("evaluation")
def retrieve_evaluation(evaluation_id):
    return jsonify(serializers.evaluation(evaluations.get_evaluation(g.project, evaluation_id)))


@bp.route("/evaluations/<evaluation_id>/", methods=["PATCH", "PUT"])
@operation(
    "Replace an evaluation's fields",
    description="`deleted: true` archives it, `deleted: false` restores it.",
    methods=("PUT",),
    body=evaluations.EvaluationInput,
    responses={200: serializers.EvaluationOut},
)
@operation(
    "Change some of an evaluation's fields",
    description="`deleted: true` archives it, `deleted: false` restores it.",
    methods=("PATCH",),
    body=evaluations.EvaluationPatch,
    body_required=False,
    responses={200: serializers.EvaluationOut},
)
@project_endpoint("evaluation")
def update_evaluation(evaluation_id):
    item = evaluations.update_evaluation(
        g.project, api_user(), evaluation_id, request_body(), partial=request.method == "PATCH"
    )
    return jsonify(serializers.evaluation(item))


@bp.delete("/evaluations/<evaluation_id>/")
@operation(
    'Not allowed: archive with PATCH {"deleted": true}',
    description="Always 405, as PostHog: evaluations are archived, never hard-deleted.",
    errors=(405,),
    writes=False,
)
@project_endpoint("evaluation")
def delete_evaluation(evaluation_id):
    """Never deletes, whatever the id (known, unknown, malformed or another project's): as PostHog."""
    raise ApiError(
        405,
        "method_not_allowed",
        'Hard delete of this model is not allowed. Use a patch API call to set "deleted" to true',
        allow=other_methods(),
    )
