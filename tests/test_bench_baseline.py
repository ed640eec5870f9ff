"""bench/bare_list.py, the yardstick of bench/api_list.py, answers every benchmark case as our API does."""

import importlib.util
from pathlib import Path

import pytest
from sqlalchemy import select
from werkzeug.test import Client

from webapp import demo
from webapp.extensions import db
from webapp.models import SymbolSet
from webapp.services import accounts

BENCH = Path(__file__).resolve().parent.parent / "bench"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


api_list = load("api_list")
bare_list = load("bare_list")

# Beyond the benchmark's cases: pages with both links, repeated and blank parameters, other orders, searches
# of several words (short and long, repeated, one found only in the prompt) and with LIKE's metacharacters.
EXTRA_QUERIES = (
    "evaluations/?limit=5&offset=12&order_by=name",
    "evaluations/?order_by=-updated_at,name&limit=7&offset=3&offset=4",
    "evaluations/?enabled=false&search=&limit=3",
    "evaluations/?search=Hallucination%20check&limit=2&offset=1",
    "evaluations/?search=%25&limit=2",
    "evaluations/?search=%20SQ%20%20copilot%20SQ&limit=3",
    "evaluations/?search=verdict%20q&limit=3",
    # Every row matches: on PostgreSQL these pages walk the order's index (search_postgresql.WALK_FACTOR).
    "evaluations/?search=reply%20JS%20e&limit=2&offset=1&order_by=-name",
    "error_tracking/symbol_sets/?order_by=last_used&limit=4&offset=2",
    "error_tracking/symbol_sets/?order_by=-last_used&limit=4",
    "error_tracking/symbol_sets/?status=pending&order_by=ref",
    "error_tracking/symbol_sets/?status=uploaded&search=acme",
    "error_tracking/symbol_sets/?search=2.14",
    "error_tracking/symbol_sets/?search=acme%202.1&status=failed",
    "error_tracking/releases/?order_by=version",
)


@pytest.fixture
def seeded(app, user_id, project_id, make_key):
    with app.app_context():
        user = accounts.get_user(user_id)
        project = accounts.get_project(project_id)
        demo.seed_evaluations(project, user, 60, batch_size=25)
        demo.seed_symbol_sets(project, user, 30)
        ref = db.session.scalar(select(SymbolSet.ref).order_by(SymbolSet.pk))
        db.session.remove()
    return make_key(user_id, "evaluation:read,error_tracking:read"), ref


@pytest.fixture
def bare(app):
    connect_args = app.config["SQLALCHEMY_ENGINE_OPTIONS"].get("connect_args", {})
    baseline = bare_list.BareList(app.config["SQLALCHEMY_DATABASE_URI"], connect_args.get("options", ""))
    yield baseline
    baseline.close()


def test_the_bare_baseline_answers_every_case_as_our_api(app, client, seeded, bare, project_id):
    key, ref = seeded
    headers = {"Authorization": f"Bearer {key}"}
    base = f"/api/environments/{project_id}/"
    paths = [api_list.case_path(base, case) for case in api_list.cases(evaluations=60, ref_fragment=ref[:8])]
    paths += [base + query for query in EXTRA_QUERIES]
    counts = []
    for path in paths:
        ours = client.get(path, headers=headers)
        theirs = Client(bare).get(path, headers=headers)
        assert ours.status_code == theirs.status_code == 200, path
        assert api_list.first_difference(ours.json, theirs.json) is None, path
        assert ours.json == theirs.json, path
        counts.append(ours.json["count"])
    # The comparison means something: pages with rows, and searches that match some rows but not all.
    assert max(counts) >= 60 and 0 < min(count for count in counts if count) < 60


def test_a_bad_key_is_refused_by_the_baseline_too(app, client, seeded, bare, project_id):
    path = f"/api/environments/{project_id}/evaluations/"
    headers = {"Authorization": "Bearer phx_not-a-key"}
    assert client.get(path, headers=headers).status_code == 401
    assert Client(bare).get(path, headers=headers).status_code == 401
