"""/api/projects/ and /api/users/@me/"""

from flask import jsonify

from ..services import accounts
from ..services.errors import NotFound
from . import serializers
from .auth import api_user, key_projects
from .contract import operation
from .routing import ApiBlueprint

bp = ApiBlueprint("accounts_api", __name__)


@bp.get("/projects/")
@operation(
    "List the projects the caller can use", responses={200: serializers.Paginated[serializers.ProjectOut]}
)
def list_projects():
    projects = accounts.user_projects(api_user())
    limit = key_projects()
    if limit:
        projects = [project for project in projects if project.id in limit]
    return jsonify(
        count=len(projects),
        next=None,
        previous=None,
        results=[serializers.project(project) for project in projects],
    )


@bp.get("/users/@me/")
@operation("The calling user, their current project and organizations", responses={200: serializers.Me})
def me():
    user = api_user()
    try:
        current = accounts.resolve_project(user, "@current", within=key_projects())
    except NotFound:
        current = None
    body = serializers.user_basic(user)
    body["team"] = serializers.project(current) if current else None
    body["organizations"] = [
        {"id": str(m.organization.uuid), "name": m.organization.name, "level": m.level}
        for m in user.memberships
    ]
    return jsonify(body)
