"""The API's list reads without Flask's request machinery: the calls scripts and build tools repeat most.

A GET of a project's evaluations, symbol sets or releases with a personal API key is the API's most frequent
call. Through Flask, the request context, URL matching, hooks, response object and teardown cost about
100-200 µs per call: a third of a small list's own time (bench/README.md, "After the fourth session's
changes"). Such a call is answered here in an app context alone, by the same code the Flask route runs:
the rate limiter's count, the key lookup with the project, the key's project limit and scope, and the view's
page function; the body and headers are the ones Flask would send.

Anything else goes to Flask, which answers as always: another method or path, a project named otherwise
than by its id, a session cookie, a key anywhere but the Authorization header, a request body, and every
answer but a page (a refused key, a spent rate limit, a bad parameter, an outage). A request handed over
after it was counted carries its count along (ratelimit.COUNTED), so it is never counted twice.
"""

import logging
import re
from datetime import timedelta

from flask import Flask
from werkzeug.exceptions import SecurityError
from werkzeug.wsgi import get_host

from .. import ratelimit
from ..body_timeout import body_length
from ..services import api_keys
from .auth import bearer_key, key_refusal, project_id_of
from .error_tracking import releases_page, symbol_sets_page
from .evaluations import evaluations_page

# Both PostHog prefixes, with or without the trailing slash (api/routing.py registers both).
PATH = re.compile(
    r"/api/(?:environments|projects)/([0-9]+)/(evaluations|error_tracking/symbol_sets|error_tracking/releases)/?"
)
# What each list needs of a key, and the function building its answer.
LISTS = {
    "evaluations": ("evaluation:read", evaluations_page),
    "error_tracking/symbol_sets": ("error_tracking:read", symbol_sets_page),
    "error_tracking/releases": ("error_tracking:read", releases_page),
}
HEADERS = [("Content-Type", "application/json")]

logger = logging.getLogger(__name__)


class FastReads:
    """WSGI middleware before Flask's own wsgi_app: answers the list reads it can, hands over the rest."""

    def __init__(self, app: Flask, wsgi_app):
        self.app, self.wsgi_app = app, wsgi_app

    def __call__(self, environ, start_response):
        body = self.page(environ)
        if body is None:
            return self.wsgi_app(environ, start_response)
        start_response("200 OK", [*HEADERS, ("Content-Length", str(len(body)))])
        return [body]

    def page(self, environ) -> bytes | None:
        """The list's JSON body, or None when Flask is to answer."""
        if environ.get("REQUEST_METHOD") != "GET" or "HTTP_COOKIE" in environ or body_length(environ) != 0:
            return None
        app = self.app
        if not app.config["API_FAST_READS"]:
            return None
        found = PATH.fullmatch(environ.get("PATH_INFO", ""))
        presented = bearer_key(environ.get("HTTP_AUTHORIZATION", ""))
        if found is None or presented is None:
            return None
        project_id = project_id_of(found.group(1))
        request = self._request(environ)
        if project_id is None or request is None:
            return None
        with app.app_context():
            wait = app.extensions["rate_limiter"].hit(app, ratelimit.key_caller(presented), ratelimit.API)
            environ[ratelimit.COUNTED] = wait
            if wait:
                return None  # Flask answers the 429
            try:
                return self._answer(request, presented, project_id, *LISTS[found.group(2)])
            except Exception:
                # Flask meets the same problem (a bad parameter, an outage) and answers it in the API's shape.
                logger.debug("A list read was handed to Flask", exc_info=True)
                return None

    def _request(self, environ):
        """The request as Flask would make it; None for a host TRUSTED_HOSTS refuses (Flask answers 400)."""
        request = self.app.request_class(environ)
        trusted = self.app.config["TRUSTED_HOSTS"]
        if trusted is not None:
            request.trusted_hosts = trusted
            try:
                request.host = get_host(environ, trusted)
            except SecurityError:
                return None
        return request

    def _answer(self, request, presented: str, project_id: int, scope: str, page) -> bytes | None:
        app = self.app
        interval = timedelta(seconds=app.config["API_KEY_TOUCH_INTERVAL_SECONDS"])
        key = api_keys.authenticate_key(presented, interval, project_id)
        if key is None or key.project is None or key_refusal(key, key.project.id, scope) is not None:
            return None
        return app.json.encode(page(key.project, request))
