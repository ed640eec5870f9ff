"""Security headers on every response: no sniffing, no framing, no inline code, HTTPS remembered."""

# No 'unsafe-inline' or 'unsafe-eval': scripts and styles come only from our static files, and htmx is
# configured (base.html) to need neither eval nor injected styles.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        # Pico draws its form-control icons (select chevrons, checkmarks) from data: URIs in the stylesheet.
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    # Page URLs stay on this site; other sites learn nothing of them.
    "Referrer-Policy": "same-origin",
    # On every response, not only HTML: a download or JSON body opened in a tab runs nothing either.
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
}
HSTS = "max-age=31536000"
# (name, its lower-case form, value): what a response gets unless it set that header itself.
_PLAIN = tuple((name, name.lower(), value) for name, value in SECURITY_HEADERS.items())
_SECURE = (*_PLAIN, ("Strict-Transport-Security", "strict-transport-security", HSTS))
SECURE_SCHEMES = ("https", "wss")  # as Werkzeug's request.is_secure


class SecurityHeadersMiddleware:
    """Add the headers to every response the app starts, keeping any a view set itself (the invite page
    sends its own Referrer-Policy).

    At the WSGI level rather than as an after_request hook: error responses, static files and downloads get
    them alike, and a list append per header costs far less than Werkzeug's Headers.setdefault (a KeyError
    per absent header) on every API call.
    """

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        # Read inside ProxyFix (create_app wraps this first): behind the trusted proxy the scheme is the
        # client's, so only a response that reached the browser over HTTPS asks it to insist on HTTPS.
        extra = _SECURE if environ.get("wsgi.url_scheme") in SECURE_SCHEMES else _PLAIN

        def start_with_headers(status, headers, exc_info=None):
            present = {name.lower() for name, _ in headers}
            headers = [*headers, *((name, value) for name, lower, value in extra if lower not in present)]
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, start_with_headers)
