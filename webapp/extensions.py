"""Extension objects, created once and bound to the app in create_app()."""

import flask_login
import flask_sqlalchemy
from flask import current_app, request
from flask_migrate import Migrate
from flask_wtf import csrf as flask_wtf_csrf
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names so Alembic migrations are the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# The environ entry holding the request's session as the session interface opened it (auth.SessionInterface).
OPENED_SESSION = "webapp.session"


class LoginManager(flask_login.LoginManager):
    """Flask-Login's manager, whose after-request hook returns at once when it has nothing to do."""

    def _update_remember_cookie(self, response):
        # The hook acts only on a "_remember" operation in the session (login_user(remember=True), or
        # logout_user while a remember cookie is sent) or when REMEMBER_COOKIE_REFRESH_EACH_REQUEST is set.
        # It looks through flask.session, which marks the session accessed: every response would then vary
        # on Cookie and have its session saved. Look at the opened session itself instead.
        opened = request.environ.get(OPENED_SESSION)
        if (
            opened is not None
            and "_remember" not in opened
            and not current_app.config.get("REMEMBER_COOKIE_REFRESH_EACH_REQUEST")
        ):
            return response
        return super()._update_remember_cookie(response)


class SQLAlchemy(flask_sqlalchemy.SQLAlchemy):
    """Flask-SQLAlchemy, whose teardown returns at once when the app context had no ORM session (an API
    read on the driver's cursor, driver_reads.py): removing an absent one raises and catches a KeyError."""

    def _teardown_session(self, exc: BaseException | None) -> None:
        if self.session.registry.has():
            self.session.remove()


class CSRFProtect(flask_wtf_csrf.CSRFProtect):
    """Flask-WTF's CSRF protection, looking at the method first: a GET, HEAD or OPTIONS (most requests, every
    API read) needs no token either way, and finding out first whether the view is exempt costs about ten
    context lookups on every request."""

    def protect(self, apply_exemptions=False):
        if request.method in current_app.config["WTF_CSRF_METHODS"]:
            super().protect(apply_exemptions)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
