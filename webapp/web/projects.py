"""Home and the project switcher."""

from flask import Blueprint, abort, redirect, request, url_for
from flask_login import current_user, login_required

from ..services import accounts, validation
from ..services.errors import NotFound, ValidationError
from .htmx import see_other

bp = Blueprint("projects", __name__)


def project_or_404(project_id: int):
    """The signed-in user's project, else 404 (never reveal another organization's)."""
    try:
        return accounts.resolve_project(current_user, project_id)
    except NotFound:
        abort(404)


@bp.get("/")
@login_required
def home():
    try:
        project = accounts.resolve_project(current_user, "@current")
    except NotFound:
        abort(404, "You are not a member of any project yet. Ask an admin to invite you.")
    return redirect(url_for("evaluations.index", project_id=project.id))


@bp.post("/projects/switch")
@login_required
def switch():
    try:
        project_id = validation.integer(request.form.get("project_id", ""), "project_id", minimum=1)
    except ValidationError:
        abort(400, "Choose a project from the list.")
    try:
        project = accounts.switch_project(current_user, project_id)
    except NotFound:
        abort(404)
    return see_other(url_for("evaluations.index", project_id=project.id))
