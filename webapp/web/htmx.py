"""One view serves the full page and its htmx partial."""

from urllib.parse import parse_qsl, urlsplit

from flask import make_response, redirect, render_template, request
from werkzeug.datastructures import MultiDict


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def is_partial_request() -> bool:
    """An htmx request that is not a history restore (that one needs the whole page)."""
    return is_htmx() and request.headers.get("HX-History-Restore-Request") != "true"


def render(page_template: str, partial_template: str, status: int = 200, **context):
    """Render the partial for htmx requests, else the full page; caches must tell them apart.

    A partial carries the flash region out-of-band (the page's layout includes it), so messages
    flashed before a swap show up without each partial including it.
    """
    if is_partial_request():
        body = render_template("_flash.html", partial=True) + render_template(
            partial_template, partial=True, **context
        )
    else:
        body = render_template(page_template, partial=False, **context)
    response = make_response(body, status)
    response.vary.add("HX-Request")
    return response


def see_other(location: str):
    """Redirect after a non-GET: a full navigation for htmx, a 303 otherwise."""
    if is_htmx():
        response = make_response("", 204)
        response.headers["HX-Redirect"] = location
        return response
    return redirect(location, 303)


def local_url(target: str | None, fallback: str) -> str:
    """`target` reduced to a path on this site (so forms cannot redirect elsewhere), else fallback."""
    if not target:
        return fallback
    parts = urlsplit(target)
    if parts.scheme not in ("", "http", "https") or (parts.netloc and parts.netloc != request.host):
        return fallback
    if not parts.path.startswith("/") or parts.path.startswith("//"):
        return fallback
    return parts.path + (f"?{parts.query}" if parts.query else "")


def origin_page_args() -> MultiDict:
    """The query string of the page an htmx request came from, to re-render the same list state."""
    origin = request.headers.get("HX-Current-URL") or ""
    return MultiDict(parse_qsl(urlsplit(origin).query))
