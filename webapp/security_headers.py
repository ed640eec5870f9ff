"""Security headers on every response: no sniffing, no framing, no inline code, HTTPS remembered."""

from flask import request

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


def add_security_headers(response):
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    # Only a response that arrived over HTTPS may tell the browser to insist on HTTPS.
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    return response


def init_app(app) -> None:
    app.after_request(add_security_headers)
