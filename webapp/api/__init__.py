"""The JSON API: PostHog-compatible routes, auth by personal API key or session."""

from flask import Blueprint

from ..extensions import csrf
from ..services.errors import ServiceError
from . import accounts, error_tracking, evaluations, openapi, teams
from .auth import authenticate
from .errors import ApiError, error_response, from_service_error

# Project-scoped resources answer under both PostHog prefixes.
PROJECT_PREFIXES = {
    "environments": "/api/environments/<project_id>",
    "projects": "/api/projects/<project_id>",
}


def _guard(blueprint: Blueprint) -> None:
    blueprint.before_request(authenticate)
    blueprint.register_error_handler(ApiError, error_response)
    blueprint.register_error_handler(ServiceError, lambda error: error_response(from_service_error(error)))
    # API keys are not cookies: CSRF applies only to session callers (checked in authenticate).
    csrf.exempt(blueprint)


PROJECT_BLUEPRINTS = (evaluations.bp, error_tracking.bp)

# Once, at import: a blueprint cannot take new hooks after its first registration, and
# create_app() may run several times in one process (tests, benchmarks).
for _blueprint in (accounts.bp, teams.bp, *PROJECT_BLUEPRINTS):
    _guard(_blueprint)


def init_app(app) -> None:
    app.register_blueprint(openapi.bp, url_prefix="/api")
    app.register_blueprint(accounts.bp, url_prefix="/api")
    app.register_blueprint(teams.bp, url_prefix="/api")
    for blueprint in PROJECT_BLUEPRINTS:
        for name, prefix in PROJECT_PREFIXES.items():
            app.register_blueprint(blueprint, url_prefix=prefix, name=f"{name}_{blueprint.name}")
