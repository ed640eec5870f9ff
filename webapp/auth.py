"""Browser sessions: Flask-Login wiring; htmx requests get HX-Redirect to the login page."""

import secrets

from flask import redirect, request, url_for

from .extensions import login_manager
from .services import accounts, validation
from .services.errors import ValidationError


@login_manager.user_loader
def load_user(session_id: str):
    """The user a session names, while that session's token is still the user's current one."""
    user_id, _, token = session_id.partition(":")
    try:
        user = accounts.get_user(validation.integer(user_id, None, minimum=1, maximum=validation.INT32_MAX))
    except ValidationError:
        user = None
    if user is None or not user.is_active or not secrets.compare_digest(token, user.session_token):
        return None
    return user


@login_manager.unauthorized_handler
def unauthorized():
    login_url = url_for("auth.login", next=request.full_path.rstrip("?"))
    if request.headers.get("HX-Request"):
        # A fragment of the login page swapped into a table would be useless.
        return "", 401, {"HX-Redirect": login_url}
    return redirect(login_url)


def init_app(app) -> None:
    login_manager.session_protection = "basic"
    login_manager.login_message = "Log in to continue."
    login_manager.login_message_category = "info"
