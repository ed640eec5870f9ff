"""Settings → Members and Settings → Projects: the organization of the user's current project.

Everyone sees the members, the projects and the organization's activity; admins invite, change levels,
remove, create and rename projects; owners also manage owners and delete projects. The services check
every rule; a refused action comes back as a message on the page it was taken from.
"""

from flask import Blueprint, flash, g, make_response, render_template, request, session, url_for
from flask_login import current_user, login_required

from .. import mail
from ..models import MembershipLevel
from ..services import invites, members, organizations, projects
from ..services.errors import Conflict, NotFound, PermissionDenied, ValidationError
from .htmx import see_other
from .invites import invite_link
from .settings_forms import DeleteProjectForm, InviteForm, ProjectForm

bp = Blueprint("teams", __name__, url_prefix="/settings")

# The session entry that lets the page after the invite redirect show the new links once.
REVEAL = "invite_reveal"


@bp.before_request
@login_required
def resolve_caller():
    """The signed-in user in their current organization; a removed member gets a 404 from here on."""
    g.caller = organizations.current(current_user)


def _refused(error, endpoint: str):
    """A rule said no (the last owner, a level, a lost race): say why on the page the action came from."""
    flash(error.detail, "warning")
    return see_other(url_for(endpoint))


# --- members ------------------------------------------------------------------------------


def _members_page(status=200, form=None):
    caller = g.caller
    form = form or InviteForm(formdata=None)
    # The levels this caller may give: an owner may invite owners, an admin up to admin.
    form.level.choices = [
        (str(number), name)
        for number, name in organizations.LEVEL_NAMES.items()
        if caller.is_owner or number < MembershipLevel.OWNER
    ]
    response = make_response(
        render_template(
            "settings/members.html",
            caller=caller,
            members=members.list_members(caller),
            pending=invites.list_pending(caller) if caller.is_admin else [],
            revealed=_reveal_once(),
            entries=organizations.entries(caller.organization),
            describe=organizations.describe,
            level_name=organizations.level_name,
            levels=organizations.LEVEL_NAMES,
            mail_configured=mail.is_configured(),
            form=form,
        ),
        status,
    )
    response.headers["Cache-Control"] = "no-store"  # it may show invite links
    return response


def _reveal_once() -> list[dict]:
    """The links created just before, shown once (see services.one_time): [{email, link, emailed}].

    After that the session keeps the addresses without the pads, so a reload says why the links are gone.
    """
    pending = session.pop(REVEAL, None) or []
    shown = []
    for item in pending:
        token = (
            invites.reveal_token(g.caller, item["id"], bytes.fromhex(item["pad"])) if "pad" in item else None
        )
        if token:
            shown.append({"email": item["email"], "link": invite_link(token), "emailed": item["emailed"]})
    if shown:
        session[REVEAL] = [{"id": item["id"], "email": item["email"]} for item in pending]
    elif pending:
        emails = ", ".join(item["email"] for item in pending)
        flash(
            f"The invite links for {emails} were shown once and cannot be shown again. "
            "If you did not copy one, revoke it and invite again.",
            "info",
        )
    return shown


@bp.get("/members")
def members_page():
    return _members_page()


@bp.post("/members/invite")
def invite():
    form = InviteForm()
    if not form.validate():
        return _members_page(422, form)
    try:
        created = invites.create_invites(g.caller, form.emails.data or "", form.level.data, from_text=True)
    except ValidationError as error:
        form.add_service_errors(error)
        return _members_page(422, form)
    except (PermissionDenied, Conflict) as error:
        return _refused(error, ".members_page")
    emailed = invites.email_invites(
        [(invitation, invite_link(token)) for invitation, token, _pad in created], current_user
    )
    reveal = [
        {"id": str(invitation.id), "pad": pad.hex(), "email": invitation.target_email, "emailed": sent}
        for (invitation, _token, pad), sent in zip(created, emailed, strict=True)
    ]
    # Post/Redirect/Get: the GET shows each link once, from the sealed copy and this pad.
    session[REVEAL] = reveal
    return see_other(url_for(".members_page"))


@bp.post("/members/<user_uuid>/level")
def change_level(user_uuid):
    try:
        member = members.change_level(g.caller, user_uuid, request.form.get("level", ""), from_text=True)
    except (PermissionDenied, Conflict, NotFound, ValidationError) as error:
        return _refused(error, ".members_page")
    flash(f"{member.user.email} is now {organizations.level_name(member.level)}.", "success")
    return see_other(url_for(".members_page"))


@bp.post("/members/<user_uuid>/remove")
def remove(user_uuid):
    """Confirm first (the page names the person), then remove exactly them."""
    member = members.get_member(g.caller, user_uuid)
    leaving = member.user_id == current_user.id
    if request.form.get("confirmed") != "1":
        return render_template(
            "settings/confirm_remove_member.html",
            member=member,
            leaving=leaving,
            caller=g.caller,
            problem=members.removal_problem(g.caller, member),
        )
    email = member.user.email
    try:
        members.remove_member(g.caller, user_uuid)
    except (PermissionDenied, Conflict) as error:
        return _refused(error, ".members_page")
    if leaving:
        flash(f"You left {g.caller.organization.name}.", "success")
        return see_other(url_for("projects.home"))
    flash(
        f"Removed {email}. Their sessions and API keys lost access to this organization's projects.",
        "success",
    )
    return see_other(url_for(".members_page"))


@bp.post("/invites/<invite_id>/revoke")
def revoke(invite_id):
    try:
        invitation = invites.revoke(g.caller, invite_id)
    except NotFound:
        flash("That invitation was already used, revoked or expired.", "info")
        return see_other(url_for(".members_page"))
    except (PermissionDenied, Conflict) as error:
        return _refused(error, ".members_page")
    flash(f"Revoked the invitation of {invitation.target_email}; its link no longer works.", "success")
    return see_other(url_for(".members_page"))


# --- projects -----------------------------------------------------------------------------


def _projects_page(status=200, form=None):
    return (
        render_template(
            "settings/projects.html",
            caller=g.caller,
            projects=projects.list_projects(g.caller),
            form=form or ProjectForm(formdata=None),
        ),
        status,
    )


@bp.get("/projects")
def projects_page():
    return _projects_page()


@bp.post("/projects")
def create_project():
    form = ProjectForm()
    if not form.validate():
        return _projects_page(422, form)
    try:
        project = projects.create_project(g.caller, form.name.data or "")
    except ValidationError as error:
        form.add_service_errors(error)
        return _projects_page(422, form)
    except (PermissionDenied, Conflict) as error:
        return _refused(error, ".projects_page")
    flash(f"Created the project {project.name}. It is in the project switcher.", "success")
    return see_other(url_for(".projects_page"))


@bp.post("/projects/<int:project_id>/rename")
def rename_project(project_id):
    try:
        project = projects.rename_project(g.caller, project_id, request.form.get("name", ""))
    except (PermissionDenied, Conflict, NotFound, ValidationError) as error:
        return _refused(error, ".projects_page")
    flash(f"Renamed the project to {project.name}.", "success")
    return see_other(url_for(".projects_page"))


def _delete_page(project, status=200, form=None):
    return (
        render_template(
            "settings/delete_project.html",
            project=project,
            contents=projects.contents(project),
            form=form or DeleteProjectForm(formdata=None),
            only_project=len(projects.list_projects(g.caller)) == 1,
        ),
        status,
    )


@bp.get("/projects/<int:project_id>/delete")
def confirm_delete_project(project_id):
    organizations.require_owner(g.caller.level, "delete projects")
    return _delete_page(projects.get_project(g.caller, project_id))


@bp.post("/projects/<int:project_id>/delete")
def delete_project(project_id):
    project = projects.get_project(g.caller, project_id)
    name = project.name
    form = DeleteProjectForm()
    if not form.validate():
        return _delete_page(project, 422, form)
    try:
        deleted = projects.delete_project(g.caller, project_id, form.confirm_name.data or "")
    except ValidationError as error:
        form.add_service_errors(error)
        return _delete_page(project, 422, form)
    except (PermissionDenied, Conflict) as error:
        return _refused(error, ".projects_page")
    flash(f"Deleted the project {name}: {deleted.summary()}.", "success")
    return see_other(url_for(".projects_page"))
