"""Opening an invite link: a new person sets a name and password, a signed-in one joins; both by POST."""

from flask import (
    Blueprint,
    current_app,
    has_request_context,
    make_response,
    render_template,
    url_for,
)
from flask_login import current_user

from ..auth import begin_session
from ..services import accounts, invites, organizations
from ..services.errors import Conflict, PermissionDenied, ValidationError
from .htmx import see_other
from .settings_forms import NewAccountForm

bp = Blueprint("invites", __name__)

# The status of each reason a link cannot be used: a used link lost to another accept is a conflict.
UNUSABLE_STATUS = {"unknown": 404, "used": 409, "revoked": 410, "expired": 410}


def invite_link(token: str) -> str:
    """The absolute link for a token: this request's address, or PUBLIC_URL outside a request."""
    if has_request_context():
        return url_for("invites.show", token=token, _external=True)
    with current_app.test_request_context(base_url=current_app.config["PUBLIC_URL"]):
        return url_for("invites.show", token=token, _external=True)


def _page(template: str, status: int = 200, **context):
    response = make_response(render_template(template, **context), status)
    # A capability URL: never cached, never sent on as a Referer.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _unusable(error: invites.InviteUnusable):
    return _page("invites/unusable.html", UNUSABLE_STATUS[error.reason], message=error.detail)


def _form(token, invitation, status=200, form=None):
    has_account = accounts.user_exists(invitation.target_email)
    return _page(
        "invites/accept.html",
        status,
        token=token,
        invitation=invitation,
        has_account=has_account,
        level=organizations.level_name(invitation.level),
        form=form or NewAccountForm(formdata=None),
        min_password_length=accounts.MIN_PASSWORD_LENGTH,
    )


@bp.get("/invite/<token>")
def show(token):
    try:
        invitation = invites.find_usable(token)
    except invites.InviteUnusable as error:
        return _unusable(error)
    return _form(token, invitation)


@bp.post("/invite/<token>")
def accept(token):
    try:
        invitation = invites.find_usable(token)
        if current_user.is_authenticated:
            project = invites.accept_as_existing_user(token, current_user)
        else:
            form = NewAccountForm()
            names = (form.first_name.data or "", form.last_name.data or "")
            password = form.password.data or ""
            valid = form.validate()
            # Every problem at once: the form's (blank, not the same) and the service's (too short, too long).
            problems = accounts.new_account_problems(password, *names)
            form.add_missed_problems(problems)
            if not valid or problems:
                return _form(token, invitation, 422, form)
            try:
                user = invites.accept_as_new_user(token, password, *names)
            except ValidationError as error:
                form.add_service_errors(error)
                return _form(token, invitation, 422, form)
            begin_session(user)
            project = accounts.resolve_project(user, "@current")
    except invites.InviteUnusable as error:
        return _unusable(error)
    except (Conflict, PermissionDenied) as error:
        return _page(
            "invites/unusable.html", 409 if isinstance(error, Conflict) else 403, message=error.detail
        )
    return see_other(url_for("evaluations.index", project_id=project.id))
