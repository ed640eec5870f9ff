"""API routing: rules with and without their trailing slash, and a 405 (not a 404) for a wrong
method on an action route."""

import re
from functools import cached_property

from flask import Blueprint, current_app, request
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BaseConverter, ValidationError

# A variable written plainly (`<symbol_set_id>`); one with a converter of its own is left alone.
_PLAIN_VARIABLE = re.compile(r"<([A-Za-z_][A-Za-z0-9_]*)>")
# The same variable as registered, to compare rules as they were written.
_OBJECT_ID = re.compile(r'<object_id\("[^"]*"\):([A-Za-z_][A-Za-z0-9_]*)>')


class ObjectId(BaseConverter):
    """A path segment naming an object, but never the name of an action route beside it.

    Werkzeug tries static segments first and falls back to a variable when the method does not
    match, so `GET symbol_sets/bulk_start_upload/` (a POST-only action) would reach retrieve with
    the id "bulk_start_upload" and answer 404. Refusing those names here makes the router answer
    405 with the action's methods in Allow, for every action route, present and future.
    """

    def __init__(self, map, parent: str = ""):
        super().__init__(map)
        self.parent = parent  # the rule's text before the variable, e.g. "/error_tracking/symbol_sets/"

    @cached_property
    def reserved(self) -> frozenset[str]:
        """The static segments that follow this variable's parent in any rule (computed once the
        map is complete: converters only run when requests are matched)."""
        after_parent = re.compile(re.escape(self.parent) + r"([^/<]+)(?:/|$)")
        return frozenset(
            match.group(1)
            for rule in self.map.iter_rules()
            for match in after_parent.finditer(_OBJECT_ID.sub(r"<\1>", rule.rule))
        )

    def to_python(self, value: str) -> str:
        if value in self.reserved:
            raise ValidationError()  # no match here: Werkzeug answers 405 for the action's rule
        return value


class ApiBlueprint(Blueprint):
    """Registers `/x/` and `/x` as two exact rules, with object ids that never shadow an action.

    A single non-strict rule matches both paths, but Werkzeug then answers a wrong method on
    the slash-less path with 404 instead of 405.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.record_once(lambda state: state.app.url_map.converters.setdefault("object_id", ObjectId))

    def add_url_rule(self, rule, endpoint=None, view_func=None, **options):
        options["strict_slashes"] = True
        rule = _PLAIN_VARIABLE.sub(lambda m: f'<object_id("{rule[: m.start()]}"):{m.group(1)}>', rule)
        super().add_url_rule(rule, endpoint, view_func, **options)
        if rule.endswith("/") and len(rule) > 1:
            super().add_url_rule(rule.rstrip("/"), endpoint, view_func, **options)


def other_methods() -> list[str]:
    """The methods the requested path answers besides this one: a 405's Allow header.

    Werkzeug's own list also names the methods of rules an ObjectId refused (`GET` for
    `DELETE symbol_sets/bulk_delete/`), so each candidate is matched again.
    """
    adapter = current_app.create_url_adapter(request)
    answering = []
    for method in adapter.allowed_methods():
        try:
            adapter.match(method=method)
        except HTTPException:
            continue
        answering.append(method)
    return sorted(set(answering) - {request.method})
