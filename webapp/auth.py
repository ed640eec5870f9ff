"""Browser sessions: Flask-Login over server-side session rows; htmx requests get HX-Redirect to login."""

from flask import current_app, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_login import login_user, logout_user

from .extensions import OPENED_SESSION, login_manager
from .models import User
from .services import sessions, validation
from .services.errors import ValidationError

# The Flask session key holding the server-side session id (Flask-Login keeps the user id in "_user_id").
SESSION_ID_KEY = "session_id"


@login_manager.user_loader
def load_user(user_id: str):
    """The user the cookie names, while its server-side session is still live."""
    session_id = session.get(SESSION_ID_KEY)
    try:
        number = validation.integer(user_id, None, minimum=1, maximum=validation.INT32_MAX)
    except ValidationError:
        return None
    if not isinstance(session_id, str):
        return None
    return sessions.find_user(number, session_id, current_app.config["SESSION_IDLE_LIFETIME"])


def begin_session(user: User) -> None:
    """Sign the browser in with a fresh session: nothing from before (CSRF token, old ids) carries over."""
    session.clear()
    session[SESSION_ID_KEY] = sessions.start(user, current_app.config["SESSION_IDLE_LIFETIME"])
    login_user(user)


def end_session() -> None:
    """Log out: end the session on the server too, so a copy of the cookie is worthless."""
    session_id = session.get(SESSION_ID_KEY)
    if isinstance(session_id, str):
        sessions.end(session_id)
    session.clear()
    logout_user()


@login_manager.unauthorized_handler
def unauthorized():
    login_url = url_for("auth.login", next=request.full_path.rstrip("?"))
    if request.headers.get("HX-Request"):
        # A fragment of the login page swapped into a table would be useless.
        return "", 401, {"HX-Redirect": login_url}
    return redirect(login_url)


class SessionInterface(SecureCookieSessionInterface):
    """Signed-cookie sessions whose cookie is Secure when configured or when the request came over HTTPS."""

    def open_session(self, app, request):
        # Without a session cookie (API clients, a first visit) the session starts empty: building the signing
        # serializer would cost more than the rest of the request's setup.
        if app.secret_key and (
            "HTTP_COOKIE" not in request.environ or self.get_cookie_name(app) not in request.cookies
        ):
            opened = self.session_class()
        else:
            opened = super().open_session(app, request)
        # Where LoginManager's hook can look at it without marking it accessed (extensions.py).
        request.environ[OPENED_SESSION] = opened
        return opened

    def save_session(self, app, session, response) -> None:
        # Nobody read, wrote or had a session (every API call with a key): the parent would work out every
        # cookie setting, then send nothing.
        if not session and not session.modified and not session.accessed:
            return
        super().save_session(app, session, response)

    def get_cookie_secure(self, app) -> bool:
        # request.is_secure is true behind the trusted proxy when it says X-Forwarded-Proto: https.
        return super().get_cookie_secure(app) or request.is_secure


def init_app(app) -> None:
    app.session_interface = SessionInterface()
    login_manager.session_protection = "basic"
    login_manager.login_message = "Log in to continue."
    login_manager.login_message_category = "info"
