"""API routes answer with and without their trailing slash (the PostHog CLI sends none)."""

from flask import Blueprint, current_app, request


class ApiBlueprint(Blueprint):
    """Registers `/x/` and `/x` as two exact rules.

    A single non-strict rule matches both paths, but Werkzeug then answers a wrong method on
    the slash-less path with 404 instead of 405.
    """

    def add_url_rule(self, rule, endpoint=None, view_func=None, **options):
        options["strict_slashes"] = True
        super().add_url_rule(rule, endpoint, view_func, **options)
        if rule.endswith("/") and len(rule) > 1:
            super().add_url_rule(rule.rstrip("/"), endpoint, view_func, **options)


def other_methods() -> list[str]:
    """The methods the requested path answers besides this one: a 405's Allow header."""
    adapter = current_app.create_url_adapter(request)
    return sorted(set(adapter.allowed_methods()) - {request.method})
