"""List query strings read as PostHog's server (Django REST framework) reads them, on every list.

Evaluations, symbol sets and releases, in the API and the UI pages: `order_by` is a comma list, `limit=0` is
the default page, a negative `offset` counts as 0, a repeated parameter's last value wins; and the
parameters `ListSpec` describes for the schema are the ones it parses.
"""

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from webapp.extensions import db
from webapp.models import Evaluation, Release, SymbolSet
from webapp.services import evaluations, releases, symbol_sets
from webapp.services.errors import ValidationError

from .conftest import count_statements, queries

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Resource:
    """One list endpoint: where it is, which field of a row labels it, and its sortable columns."""

    name: str
    path: str
    label: str
    # The field that can repeat across rows (so a second field decides), and its column.
    field: str
    spec: object


RESOURCES = {
    "evaluations": Resource("evaluations", "evaluations/", "description", "name", evaluations.LIST_SPEC),
    "symbol_sets": Resource(
        "symbol_sets", "error_tracking/symbol_sets/", "ref", "last_used", symbol_sets.LIST_SPEC
    ),
    "releases": Resource("releases", "error_tracking/releases/", "hash_id", "version", releases.LIST_SPEC),
}
# (label, rank of the resource's field, minutes after T0): the field ties in pairs. Rank None is a symbol
# set never used (NULL); the fields that cannot be NULL rank those rows 2.
ROWS = [("p", 1, 0), ("q", 0, 1), ("r", 1, 2), ("s", 0, 3), ("t", None, 4), ("u", None, 5)]


def rows_of(name: str) -> list[tuple]:
    return [
        (label, 2 if rank is None and name != "symbol_sets" else rank, minutes)
        for label, rank, minutes in ROWS
    ]


def seed(app, project_id, name: str) -> None:
    """ROWS as rows of the resource, created one minute apart."""
    with app.app_context():
        for label, value, minutes in rows_of(name):
            created_at = T0 + timedelta(minutes=minutes)
            if name == "evaluations":
                row = Evaluation(
                    project_id=project_id,
                    name=f"name {value}",
                    description=label,
                    prompt="p",
                    created_at=created_at,
                    updated_at=created_at,
                )
            elif name == "symbol_sets":
                used = None if value is None else T0 + timedelta(days=value)
                row = SymbolSet(project_id=project_id, ref=label, created_at=created_at, last_used=used)
            else:
                row = Release(
                    project_id=project_id,
                    hash_id=label,
                    version=f"{value}.0",
                    project_name="web",
                    created_at=created_at,
                )
            db.session.add(row)
        db.session.commit()
        db.session.remove()


@pytest.fixture(params=list(RESOURCES))
def resource(request, app, project_id):
    seed(app, project_id, request.param)
    return RESOURCES[request.param]


@pytest.fixture
def listed(client, auth, project_id, resource):
    def get(query="", expect=200):
        url = f"/api/environments/{project_id}/{resource.path}"
        response = client.get(f"{url}?{query}" if query else url, headers=auth)
        assert response.status_code == expect, response.json
        return response.json

    return get


@pytest.fixture
def order(listed, resource):
    """The labels of one listing, in order."""

    def labels(query=""):
        return [row[resource.label] for row in listed(query)["results"]]

    return labels


def expected_order(name: str, field_sign: str, created_sign: str) -> list[str]:
    """ROWS sorted by the resource's field, then by creation time; a never-used symbol set sorts last."""

    def key(row):
        _, value, minutes = row
        return (
            value is None,
            0 if value is None else value if field_sign == "+" else -value,
            minutes if created_sign == "+" else -minutes,
        )

    return [row[0] for row in sorted(rows_of(name), key=key)]


# --- order_by: a comma list ---------------------------------------------------------------------


@pytest.mark.parametrize(("field_sign", "created_sign"), [("+", "-"), ("-", "+"), ("+", "+"), ("-", "-")])
def test_order_by_takes_a_comma_list(order, resource, field_sign, created_sign):
    first = ("-" if field_sign == "-" else "") + resource.field
    second = ("-" if created_sign == "-" else "") + "created_at"
    expected = expected_order(resource.name, field_sign, created_sign)
    assert order(urlencode({"order_by": f"{first},{second}"})) == expected
    # Spaces around the items are ignored, as DRF's OrderingFilter does.
    assert order(urlencode({"order_by": f" {first} , {second} "})) == expected


def test_order_by_items_that_are_empty_are_ignored(order, resource):
    assert order(f"order_by=,{resource.field},,-created_at,") == expected_order(resource.name, "+", "-")
    assert order("order_by=,,") == order("") == order("order_by=-created_at")


def test_order_by_a_field_given_again_keeps_its_first_place(order, resource):
    once = order(f"order_by={resource.field},-created_at")
    assert order(f"order_by={resource.field},-{resource.field},-created_at") == once
    assert order(f"order_by={resource.field},-created_at,created_at") == once
    assert once != order(f"order_by={resource.field},created_at")


@pytest.mark.parametrize("item", ["bogus", "Created_at", "-", "--created_at", "created_at;", "id"])
def test_order_by_with_an_unknown_item_is_400(listed, resource, item):
    for value in (f"{resource.field},{item}", f"{item},created_at"):
        body = listed(urlencode({"order_by": value}), expect=400)
        assert (body["type"], body["code"], body["attr"]) == (
            "validation_error",
            "invalid_choice",
            "order_by",
        )
        assert item in body["detail"]


# --- limit and offset as DRF's LimitOffsetPagination -------------------------------------------


@pytest.mark.parametrize("limit", ["0", "-1", "-5", "-0", str(-(2**63))])
def test_limit_of_zero_or_less_is_the_default_page(app, monkeypatch, listed, order, limit):
    monkeypatch.setitem(app.config, "API_DEFAULT_LIMIT", 2)
    body = listed(f"limit={limit}&order_by=created_at")
    assert body["results"] == listed("limit=2&order_by=created_at")["results"]
    assert len(body["results"]) == 2
    assert dict(parse_qsl(urlsplit(body["next"]).query)) == {
        "limit": "2",
        "offset": "2",
        "order_by": "created_at",
    }


@pytest.mark.parametrize("offset", ["-1", "-5", "-0", str(-(2**63))])
def test_negative_offset_counts_as_zero(listed, offset):
    body = listed(f"limit=2&offset={offset}&order_by=created_at")
    assert body["results"] == listed("limit=2&order_by=created_at")["results"]
    assert body["previous"] is None
    assert dict(parse_qsl(urlsplit(body["next"]).query)) == {
        "limit": "2",
        "offset": "2",
        "order_by": "created_at",
    }


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("limit", "abc"),
        ("limit", "-"),
        ("limit", "1.5"),
        ("limit", "-1.5"),
        ("limit", "²"),
        ("limit", "-" + "9" * 30),
        ("offset", "1.5"),
        ("offset", "-x"),
        ("offset", "-" + "9" * 30),
        ("offset", str(2**63)),
    ],
)
def test_text_that_is_not_an_int64_is_still_400(listed, name, value):
    body = listed(urlencode({name: value}), expect=400)
    assert (body["type"], body["code"], body["attr"]) == ("validation_error", "invalid", name)


@pytest.mark.parametrize(
    "order_by", ["created_at", "-created_at", "{0}", "-{0}", "{0},-created_at", "-{0},created_at"]
)
def test_every_page_is_its_slice_of_the_whole_list(order, resource, order_by):
    """Pages past the middle are read from the far end and turned around: the same rows, in the same
    order, also where the field ties or was never set."""
    order_by = order_by.format(resource.field)
    whole = order(f"order_by={order_by}&limit=100")
    assert len(whole) == len(ROWS)
    for limit in range(1, len(ROWS) + 1):
        for offset in range(len(ROWS) + 2):
            page = order(f"order_by={order_by}&limit={limit}&offset={offset}")
            assert page == whole[offset : offset + limit], (limit, offset)


def test_the_first_two_pages_are_read_directly_and_later_ones_by_their_keys_first(app, listed, resource):
    """A page near either end of a list without a search reads its rows along the order; further in, the
    offset runs over the key alone in a subquery and only the page's rows are read in full (listing._page)."""

    def page_statement(query: str) -> str:
        with count_statements(app) as statements:
            listed(query)
        [page] = [text for text in queries(statements) if f"FROM {resource.name}" in text and "LIMIT" in text]
        return page

    for query in ("limit=2", "limit=2&offset=2", "limit=1&offset=5", "limit=2&offset=4"):
        assert "JOIN (SELECT" not in page_statement(query), (
            query
        )  # offset <= limit, from the start or the end
    for query in ("limit=1&offset=2", "limit=1&offset=3"):
        assert "JOIN (SELECT" in page_statement(query), query
    if resource.spec.search is not None:
        # A search's condition is not in the order's index: even its first page reads keys first.
        assert "JOIN (SELECT" in page_statement(f"limit=2&search={ROWS[0][0]}")


# --- repeated parameters: the last value wins -------------------------------------------------


def test_repeated_order_limit_offset_take_the_last_value(order, resource):
    field = resource.field
    assert order(f"order_by={field}&order_by=-{field},created_at") == order(f"order_by=-{field},created_at")
    assert order(f"order_by=-{field},created_at&order_by={field},created_at") == expected_order(
        resource.name, "+", "+"
    )
    assert order("order_by=created_at&limit=5&limit=2") == ["p", "q"]
    assert order("order_by=created_at&limit=abc&limit=2&offset=x&offset=3") == ["s", "t"]
    assert order("order_by=created_at&limit=1&offset=3&offset=1") == ["q"]
    # A blank last value means the parameter is absent, as a blank single value does.
    assert order("order_by=created_at&order_by=") == order("")


def test_a_bad_last_value_is_400_even_after_a_good_one(listed):
    body = listed("limit=2&limit=abc", expect=400)
    assert body["attr"] == "limit"
    assert listed("order_by=created_at&order_by=bogus", expect=400)["attr"] == "order_by"


def test_next_and_previous_carry_each_parameter_once_with_its_last_value(listed, order):
    body = listed("order_by=created_at&order_by=-created_at&limit=9&limit=2&x=1&x=2&offset=5&offset=2")
    newest_first = order("order_by=-created_at")
    assert [row for row in body["results"]] == listed("order_by=-created_at&limit=2&offset=2")["results"]
    for link, offset in ((body["next"], {"offset": "4"}), (body["previous"], {})):
        query = parse_qsl(urlsplit(link).query)
        assert len(query) == len(dict(query))  # each parameter once
        assert dict(query) == {"order_by": "-created_at", "limit": "2", "x": "2", **offset}
    # Following the links gives the neighbouring pages of the same query.
    before, after = order(urlsplit(body["previous"]).query), order(urlsplit(body["next"]).query)
    assert before + newest_first[2:4] + after == newest_first


def test_repeated_evaluation_filters_take_the_last_value(app, client, auth, project_id):
    seed(app, project_id, "evaluations")
    with app.app_context():
        ids = dict(db.session.execute(db.select(Evaluation.description, Evaluation.id)).all())
        db.session.execute(db.update(Evaluation).where(Evaluation.description == "p").values(enabled=True))
        db.session.commit()
        db.session.remove()

    def described(query):
        response = client.get(f"/api/environments/{project_id}/evaluations/?{query}", headers=auth)
        assert response.status_code == 200, response.json
        return sorted(row["description"] for row in response.json["results"])

    assert described(f"id__in={ids['p']},{ids['q']}&id__in={ids['r']}") == ["r"]
    assert described(f"id__in=not-a-uuid&id__in={ids['s']}") == ["s"]
    assert described("enabled=false&enabled=true") == ["p"]
    assert described("enabled=true&enabled=false") == ["q", "r", "s", "t", "u"]
    assert described("search=zzz&search=name") == ["p", "q", "r", "s", "t", "u"]
    assert described("search=name&search=zzz") == []


def test_repeated_symbol_set_filters_take_the_last_value(app, client, auth, project_id):
    seed(app, project_id, "symbol_sets")
    with app.app_context():
        db.session.execute(db.update(SymbolSet).where(SymbolSet.ref == "p").values(failure_reason="bad"))
        db.session.commit()
        db.session.remove()

    def refs(query):
        response = client.get(
            f"/api/environments/{project_id}/error_tracking/symbol_sets/?{query}", headers=auth
        )
        assert response.status_code == 200, response.json
        return sorted(row["ref"] for row in response.json["results"])

    assert refs("status=pending&status=failed") == ["p"]
    assert refs("status=bogus&status=all") == ["p", "q", "r", "s", "t", "u"]
    assert refs("ref=p&ref=q") == ["q"]
    assert refs("search=p&search=r") == ["r"]


# --- the UI pages read the same way ---------------------------------------------------------------


def test_list_pages_take_comma_order_and_last_values(app, client, logged_in, project_id):
    seed(app, project_id, "evaluations")
    url = f"/project/{project_id}/evaluations/"
    html = client.get(f"{url}?order_by=-created_at&order_by=name,-created_at").get_data(as_text=True)
    assert re.findall(r'<small class="muted">(\w)</small>', html) == expected_order("evaluations", "+", "-")
    # The primary field's header shows the sort and offers the reverse of that one field.
    header = re.search(r'<th scope="col" aria-sort="ascending">\s*<a href="([^"]+)"[^>]*>Name', html)
    assert header and "order_by=-name" in header.group(1).replace("&amp;", "&")
    assert 'name="order_by" value="name,-created_at"' in html
    html = client.get(f"{url}?enabled=true&enabled=false&limit=50&limit=2").get_data(as_text=True)
    assert re.findall(r'<small class="muted">(\w)</small>', html) == ["u", "t"]
    assert 'name="limit" value="2"' in html
    assert re.search(r'aria-sort="descending">\s*<a[^>]*>Created', html)  # the default order

    seed(app, project_id, "symbol_sets")
    html = client.get(
        f"/project/{project_id}/symbol-sets/?order_by=ref&order_by=-last_used,created_at&status=failed&status=all"
    ).get_data(as_text=True)
    refs = re.findall(r'class="ref row-name"[^>]*>([^<]+)</a>', html)
    assert refs == expected_order("symbol_sets", "-", "+")
    assert re.search(r'aria-sort="descending">\s*<a[^>]*>Last used', html)


# --- the parameters described for the schema are the ones parsed --------------------------------


def sample(parameter: dict) -> str:
    """Text a client generated from the description would send for this parameter."""
    schema = parameter["schema"]
    if schema["type"] == "array":
        items = schema["items"]
        # Each field once (ascending), or two ids.
        values = items["enum"][::2] if "enum" in items else [str(uuid.uuid4()), str(uuid.uuid4())]
        return ",".join(values)
    return {"boolean": "true", "integer": "-3", "string": schema.get("enum", ["text"])[-1]}[schema["type"]]


@pytest.mark.parametrize("name", list(RESOURCES))
def test_described_parameters_are_exactly_the_parsed_ones(name):
    spec = RESOURCES[name].spec
    parameters = spec.parameters(default_limit=100, max_limit=1000)
    assert [p["name"] for p in parameters] == list(spec.names)
    assert all(p["in"] == "query" and p["required"] is False for p in parameters)
    by_name = {p["name"]: p for p in parameters}
    order_by = by_name["order_by"]
    assert (order_by["style"], order_by["explode"]) == ("form", False)
    assert sorted(order_by["schema"]["items"]["enum"]) == sorted(spec.order_choices)
    for choice in order_by["schema"]["items"]["enum"]:
        assert spec.parse({"order_by": choice}, 100, 1000).order_by == (choice,)
    # Every described parameter, sent as described, parses; the array ones are comma lists.
    query = spec.parse({p["name"]: sample(p) for p in parameters}, 100, 1000)
    assert query.limit == 100 and query.offset == 0
    assert query.order_by == spec.order_fields
    for parameter in parameters:
        if parameter["schema"]["type"] == "array":
            assert parameter.get("explode") is False, parameter
        enum = parameter["schema"].get("enum")
        if enum:
            with pytest.raises(ValidationError) as raised:
                spec.parse({parameter["name"]: "not-" + enum[0]}, 100, 1000)
            assert raised.value.attr == parameter["name"]


def test_filters_described_with_their_kinds():
    described = {p["name"]: p for p in evaluations.LIST_SPEC.parameters(100, 1000)}
    assert described["enabled"]["schema"] == {"type": "boolean"}
    assert described["id__in"]["schema"] == {"type": "array", "items": {"type": "string", "format": "uuid"}}
    assert (described["id__in"]["style"], described["id__in"]["explode"]) == ("form", False)
    assert described["search"]["schema"] == {"type": "string"}
    assert described["limit"]["schema"] == {"type": "integer", "format": "int64"}
    assert "100" in described["limit"]["description"] and "1000" in described["limit"]["description"]
    status = {p["name"]: p for p in symbol_sets.LIST_SPEC.parameters(100, 1000)}["status"]
    assert status["schema"] == {"type": "string", "enum": list(symbol_sets.STATUSES)}
    assert "explode" not in status
