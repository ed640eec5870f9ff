"""Settings: personal API keys, profile and password."""

from flask import Blueprint, flash, make_response, render_template, request, session, url_for
from flask_login import current_user, login_required

from ..auth import begin_session
from ..services import accounts
from ..services import api_keys as keys
from ..services.errors import NotFound, ValidationError
from .htmx import see_other
from .settings_forms import ApiKeyForm, PasswordForm, ProfileForm

bp = Blueprint("settings", __name__, url_prefix="/settings")

SCOPE_LABELS = {
    "evaluation": "Evaluations",
    "error_tracking": "Error tracking",
    "project": "Projects",
    "organization": "Organization",
}


@bp.before_request
@login_required
def require_login():
    """Settings are the signed-in user's own."""


# The session entry that lets the page after the create redirect show the new key once.
REVEAL = "api_key_reveal"


def _page(status=200, form=None):
    reveal = _reveal_once()
    response = make_response(
        render_template(
            "settings/api_keys.html",
            keys=keys.list_keys(current_user),
            projects=accounts.user_projects(current_user),
            scope_actions=keys.SCOPE_ACTIONS,
            scope_labels=SCOPE_LABELS,
            describe=keys.describe,
            form=form or ApiKeyForm(formdata=None),
            **reveal,
        ),
        status,
    )
    # The one page that shows a raw key must never be stored by a cache or the back button.
    response.headers["Cache-Control"] = "no-store"
    return response


def _reveal_once() -> dict:
    """The key created just before, for the page to show once; after that, a note that it is gone.

    The session (a signed, readable cookie) holds only the key's id and a one-time pad; the row
    holds the key XOR the pad, and reveal_key() clears it on first use. So the key never sits in
    a cookie or a URL, and replaying an old cookie cannot show it again.
    """
    pending = session.pop(REVEAL, None)
    if not pending:
        return {}
    try:
        key = keys.get_key(current_user, pending["id"])
    except NotFound:
        return {}
    raw_key = (
        keys.reveal_key(current_user, pending["id"], bytes.fromhex(pending["pad"]))
        if "pad" in pending
        else None
    )
    if raw_key is None:
        flash(
            f"The key {keys.describe(key)} was shown once and cannot be shown again. "
            "If you did not copy it, delete it and create another.",
            "info",
        )
        return {}
    # Keep the id without the pad, so a reload says why the key is no longer there.
    session[REVEAL] = {"id": pending["id"]}
    return {"created_key": key, "raw_key": raw_key}


@bp.get("/api-keys")
def api_keys():
    return _page()


@bp.post("/api-keys")
def create_api_key():
    form = ApiKeyForm()
    if not form.validate():
        return _page(422, form)
    scopes = ["*"] if form.all_access.data else form.scopes.data
    try:
        key, pad = keys.create_key_to_reveal(
            current_user, form.label.data, scopes, form.projects.data or None
        )
    except ValidationError as error:
        form.add_service_errors(error)
        return _page(422, form)
    # Post/Redirect/Get: a reload re-runs the GET, never the create; the GET shows the key once.
    session[REVEAL] = {"id": str(key.id), "pad": pad.hex()}
    return see_other(url_for(".api_keys"))


@bp.post("/api-keys/<key_id>/delete")
def delete_api_key(key_id):
    """Confirm first (the page names the key by label and mask), then delete exactly that key."""
    try:
        key = keys.get_key(current_user, key_id)
        if request.form.get("confirmed") != "1":
            return render_template("settings/confirm_delete_key.html", key=key, describe=keys.describe)
        description = keys.delete_key(current_user, key_id)
    except NotFound:
        flash("That key no longer exists.", "warning")
        return see_other(url_for(".api_keys"))
    flash(f"Deleted the key {description}. Scripts using it now get 401 errors.", "success")
    return see_other(url_for(".api_keys"))


def _profile_page(status=200, profile_form=None, password_form=None):
    """Both forms of the page; the one that was posted keeps what was typed (never the passwords)."""
    if profile_form is None:
        profile_form = ProfileForm(formdata=None, obj=current_user)
    return (
        render_template(
            "settings/profile.html",
            profile_form=profile_form,
            password_form=password_form or PasswordForm(formdata=None),
            min_password_length=accounts.MIN_PASSWORD_LENGTH,
        ),
        status,
    )


@bp.get("/profile")
def profile():
    return _profile_page()


@bp.post("/profile")
def update_profile():
    form = ProfileForm()
    if form.validate():
        try:
            accounts.update_profile(current_user, form.first_name.data, form.last_name.data)
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            flash("Saved your name.", "success")
            return see_other(url_for(".profile"))
    return _profile_page(422, profile_form=form)


@bp.post("/password")
def change_password():
    form = PasswordForm()
    current, new = form.current_password.data or "", form.new_password.data or ""
    if not form.validate():
        # The service's problems too (a wrong current password, a short new one): all of them at once.
        form.add_missed_problems(accounts.password_change_problems(current_user, current, new))
        return _profile_page(422, password_form=form)
    try:
        user = accounts.change_password(current_user, current, new)
    except ValidationError as error:
        form.add_service_errors(error)
        return _profile_page(422, password_form=form)
    # Changing the password ended every session of the user: this browser gets a fresh one.
    begin_session(user)
    flash("Password changed. Every other session of yours is logged out.", "success")
    return see_other(url_for(".profile"))
