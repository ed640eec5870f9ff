"""/api/projects/ and /api/users/@me/"""

from flask import g, jsonify

from ..services import accounts
from . import serializers
from .routing import ApiBlueprint

bp = ApiBlueprint("accounts_api", __name__)


@bp.get("/projects/")
def list_projects():
    projects = accounts.user_projects(g.api_user)
    key = g.get("api_key")
    if key is not None and key.scoped_teams:
        projects = [project for project in projects if project.id in key.scoped_teams]
    return jsonify(
        count=len(projects),
        next=None,
        previous=None,
        results=[serializers.project(project) for project in projects],
    )


@bp.get("/users/@me/")
def me():
    user = g.api_user
    current = accounts.resolve_project(user, "@current") if accounts.user_projects(user) else None
    body = serializers.user_basic(user)
    body["team"] = serializers.project(current) if current else None
    body["organizations"] = [
        {"id": str(m.organization.uuid), "name": m.organization.name, "level": m.level}
        for m in user.memberships
    ]
    return jsonify(body)
