"""/api/organizations/@current/members/ and .../invites/, and writes to /api/projects/.

The caller's organization is that of their current project (within the key's projects, if limited);
the caller's level is checked by the services exactly as for the pages.
"""

import functools
import re
from typing import Any

from flask import g, jsonify, request

from ..services import accounts, inputs, invites, members, organizations, projects
from ..services.errors import ServiceError, ValidationError
from . import serializers, team_shapes
from .auth import SAFE_METHODS, api_user, key_projects, require_scope
from .contract import operation
from .errors import ApiError, from_service_error
from .request_data import request_body
from .routing import ApiBlueprint

bp = ApiBlueprint("teams_api", __name__)

MEMBERS = "/organizations/@current/members/"
INVITES = "/organizations/@current/invites/"
# What an invitation's address may be, exactly as the schema states it (ASCII, no surrounding space).
EMAIL_PATTERN = r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$"
_EMAIL = re.compile(EMAIL_PATTERN)
MAX_EMAIL_LENGTH = 254


def scoped(scope_object: str):
    """Check the key's scope for the method; set g.caller (the caller in their current organization)."""

    def decorator(view):
        @functools.wraps(view)
        def wrapper(**kwargs):
            try:
                g.caller = organizations.current(api_user(), within=key_projects())
            except ServiceError as error:
                raise from_service_error(error) from None
            require_scope(f"{scope_object}:{'read' if request.method in SAFE_METHODS else 'write'}")
            return view(**kwargs)

        wrapper.scope_object = scope_object
        return wrapper

    return decorator


def _email(value: Any) -> str:
    if not isinstance(value, str) or len(value) > MAX_EMAIL_LENGTH or not _EMAIL.fullmatch(value):
        raise ValidationError(None, "invalid", "Enter a valid email address.")
    return value.lower()


def _level(value: Any) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return organizations.parse_level(value, None)


LEVEL_SCHEMA = {"type": "integer", "enum": [1, 8, 15]}


class LevelInput(inputs.Input):
    level: inputs.checked(_level, LEVEL_SCHEMA) = None


class InviteInput(inputs.Input):
    target_email: inputs.checked(
        _email, {"type": "string", "pattern": EMAIL_PATTERN, "maxLength": MAX_EMAIL_LENGTH}
    )
    level: inputs.checked(_level, LEVEL_SCHEMA) = 1
    send_email: inputs.boolean_field() = True


class ProjectInput(inputs.Input):
    name: inputs.text_field(max_length=projects.MAX_NAME_LENGTH)


class ProjectPatch(inputs.Input):
    name: inputs.text_field(max_length=projects.MAX_NAME_LENGTH) = None


def _all(items, serialize) -> dict:
    results = [serialize(item) for item in items]
    return {"count": len(results), "next": None, "previous": None, "results": results}


# --- members ------------------------------------------------------------------------------


@bp.get(MEMBERS)
@operation("List the organization's members", responses={200: serializers.Paginated[team_shapes.MemberOut]})
@scoped("organization")
def list_members():
    return jsonify(_all(members.list_members(g.caller), team_shapes.member))


@bp.patch(MEMBERS + "<user_uuid>/")
@operation(
    "Change a member's level",
    description="Admins change members and admins; only owners make or demote owners; "
    "the last owner stays one.",
    body=LevelInput,
    body_required=False,
    responses={200: team_shapes.MemberOut},
)
@scoped("organization")
def update_member(user_uuid):
    body = inputs.parse(LevelInput, request_body())
    if body.level is None:
        return jsonify(team_shapes.member(members.get_member(g.caller, user_uuid)))
    return jsonify(team_shapes.member(members.change_level(g.caller, user_uuid, body.level)))


@bp.delete(MEMBERS + "<user_uuid>/")
@operation(
    "Remove a member (your own uuid: leave)",
    description="Their sessions and keys lose the organization's projects on their next request.",
    responses={204: None},
)
@scoped("organization")
def remove_member(user_uuid):
    members.remove_member(g.caller, user_uuid)
    return "", 204


# --- invites ------------------------------------------------------------------------------


@bp.get(INVITES)
@operation("List pending invitations (admins)", responses={200: serializers.Paginated[team_shapes.InviteOut]})
@scoped("organization")
def list_invites():
    return jsonify(_all(invites.list_pending(g.caller), team_shapes.invite))


@bp.post(INVITES)
@operation(
    "Invite someone by email",
    description="The answer carries the single-use link (`invite_url`, valid 7 days) once; it is also "
    "emailed "
    "when the server has a mail server and `send_email` is true.",
    body=InviteInput,
    responses={201: team_shapes.InviteCreated},
)
@scoped("organization")
def create_invite():
    from ..web.invites import invite_link  # the pages own the link's route

    body = inputs.parse(InviteInput, request_body())
    [(invitation, token, _pad)] = invites.create_invites(g.caller, body.target_email, body.level)
    invites.forget_sealed([invitation.id])
    link = invite_link(token)
    if body.send_email:
        invites.email_invites([(invitation, link)], api_user())
    invitation = invites.get_invite(g.caller, invitation.id)
    return jsonify({**team_shapes.invite(invitation), "invite_url": link}), 201


@bp.delete(INVITES + "<invite_id>/")
@operation("Revoke an invitation", description="Its link stops working at once.", responses={204: None})
@scoped("organization")
def revoke_invite(invite_id):
    invites.revoke(g.caller, invite_id)
    return "", 204


# --- projects -----------------------------------------------------------------------------


def _project_in_key(project_id) -> Any:
    """One of the caller's projects (id or @current), in whichever of their organizations it is: g.caller
    becomes the caller in that organization. 404 if not theirs, 403 if the key may not use it."""
    limit = key_projects()
    project = accounts.resolve_project(api_user(), project_id, within=limit)
    if limit and project.id not in limit:
        raise ApiError(403, "permission_denied", "API key does not have access to the requested project.")
    g.caller = organizations.caller_in(api_user(), project.organization_id)
    return project


@bp.post("/projects/")
@operation("Create a project (admins)", body=ProjectInput, responses={201: serializers.ProjectOut})
@scoped("project")
def create_project():
    body = inputs.parse(ProjectInput, request_body())
    return jsonify(serializers.project(projects.create_project(g.caller, body.name))), 201


@bp.get("/projects/<project_id>/")
@operation("Get a project", responses={200: serializers.ProjectOut})
@scoped("project")
def retrieve_project(project_id):
    return jsonify(serializers.project(_project_in_key(project_id)))


@bp.patch("/projects/<project_id>/")
@operation(
    "Rename a project (admins)",
    body=ProjectPatch,
    body_required=False,
    responses={200: serializers.ProjectOut},
)
@scoped("project")
def update_project(project_id):
    project = _project_in_key(project_id)
    body = inputs.parse(ProjectPatch, request_body())
    if body.name is not None:
        project = projects.rename_project(g.caller, project.id, body.name)
    return jsonify(serializers.project(project))


@bp.delete("/projects/<project_id>/")
@operation(
    "Delete a project and everything in it (owners)",
    description="Its evaluations, symbol sets and their stored files, releases and activity go with it; keys "
    "limited to it lose it. An organization keeps at least one project (409).",
    responses={204: None},
)
@scoped("project")
def delete_project(project_id):
    projects.delete_project(g.caller, _project_in_key(project_id).id)
    return "", 204
