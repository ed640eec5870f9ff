"""Home, the project switcher, and the project every project page works in (`g.project`)."""

from flask import Blueprint, abort, current_app, g, redirect, request, url_for
from flask_login import current_user, login_required

from ..services import accounts, validation
from ..services.errors import NotFound, ValidationError
from .htmx import see_other

bp = Blueprint("projects", __name__)


def scoped_to_project(blueprint: Blueprint) -> Blueprint:
    """Pages under `/project/<int:project_id>/...`: the signed-in user's project is `g.project`.

    The views take no `project_id` argument. A project the user is not a member of raises the
    service's NotFound, which the app's error handler turns into a 404 (never revealing another
    organization's project). Without a signed-in user nothing is resolved: the blueprint's login
    check, which runs next, sends the visitor to the login page.
    """

    @blueprint.url_value_preprocessor
    def resolve_project(endpoint, values):
        project_id = values.pop("project_id", None) if values else None
        if project_id is not None and current_user.is_authenticated:
            g.project = accounts.resolve_project(current_user, project_id)

    return blueprint


def current_project_context() -> dict:
    """`project` for every template rendered while a project page is served."""
    return {"project": g.project} if "project" in g else {}


def fill_project_id(endpoint: str, values: dict) -> None:
    """`url_for` to a project page from a project page needs no `project_id`: it stays in the project."""
    if (
        "project" in g
        and "project_id" not in values
        and current_app.url_map.is_endpoint_expecting(endpoint, "project_id")
    ):
        values["project_id"] = g.project.id


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
    project = accounts.switch_project(current_user, project_id)
    return see_other(url_for("evaluations.index", project_id=project.id))
