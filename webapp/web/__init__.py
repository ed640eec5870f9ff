"""HTML blueprints: server-rendered pages with htmx partials."""

from flask import g
from flask_login import current_user
from werkzeug.routing import IntegerConverter

from ..services import accounts
from . import (  # noqa: F401 (symbolicate: its routes)
    api_docs,
    auth,
    evaluations,
    filters,
    invites,
    projects,
    settings,
    symbol_sets,
    symbolicate,
    teams,
)


def _navigation_context():
    """Projects for the switcher, loaded once per page."""
    if not current_user.is_authenticated:
        return {}
    if "nav_projects" not in g:
        g.nav_projects = accounts.user_projects(current_user)
    return {"nav_projects": g.nav_projects}


class AsciiIntegerConverter(IntegerConverter):
    """`<int:...>` for ASCII digits only: Werkzeug's `\\d+` also matches "٣" and "１" (3 and 1 again)."""

    regex = r"[0-9]+"


def init_app(app) -> None:
    app.url_map.converters["int"] = AsciiIntegerConverter
    app.context_processor(_navigation_context)
    app.context_processor(projects.current_project_context)
    app.url_defaults(projects.fill_project_id)
    filters.register(app)
    for blueprint in (
        auth.bp,
        projects.bp,
        evaluations.bp,
        symbol_sets.bp,
        settings.bp,
        api_docs.bp,
        invites.bp,
        teams.bp,
    ):
        app.register_blueprint(blueprint)

    @app.after_request
    def vary_on_htmx(response):
        # Full pages and partials share URLs; a cache must keep them apart.
        if response.mimetype == "text/html":
            response.vary.add("HX-Request")
        return response
