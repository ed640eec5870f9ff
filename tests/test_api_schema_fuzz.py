"""Schemathesis against the served /api/schema/ on a real server: the schema and the code must agree.

Every operation is fuzzed with a `*` key, on this run's test database (SQLite or PostgreSQL): no 5xx, only
documented statuses, content types and response bodies, every schema-valid request accepted and every
schema-invalid one refused. Any finding fails the test, with schemathesis' report of it.
"""

import json
import subprocess
import sys
import time
from pathlib import Path

import requests
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import Evaluation, Release
from webapp.services import accounts, evaluations, organizations, projects, releases

from .gunicorn_server import run_gunicorn
from .symbol_blobs import cli_blob, sha512

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
SEED = 7
EXAMPLES = 12
# Fuzzing is not an attack: the limits would only turn findings into 429s.
UNLIMITED = {"API_RATE_LIMITS": "1000000/minute", "UPLOAD_RATE_LIMITS": "1000000/minute"}
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "positive_data_acceptance",
)
TIMEOUT = 30
# Bounds the whole schemathesis run, a guard against a hung run, not a speed check: its 2,400 cases take one
# to three minutes here while `make test` runs the other tests beside it on every core (pytest-xdist).
RUN_SECONDS = 900


def seed(app, user_id: int, server, key: str) -> dict[str, str]:
    """A project with an evaluation, a release and an uploaded symbol set; their ids for the path."""
    with app.app_context():
        user = accounts.get_user(user_id)
        project = accounts.resolve_project(user, "@current")
        evaluation = evaluations.create_evaluation(project, user, {"name": "Judge", "prompt": "Rate it."})
        release = releases.create_release(project, {"version": "1.0.0", "project": "web"})
        spare = projects.create_project(organizations.current(user), "Spare")
        ids = {
            "spare_project_id": spare.id,
            "project_id": project.id,
            "evaluation_id": str(evaluation.id),
            "release_id": str(release.id),
            "hash_id": release.hash_id,
        }
        db.session.remove()
    base = f"{server.base}/api/projects/{ids['project_id']}/error_tracking/symbol_sets/"
    headers = {"Authorization": f"Bearer {key}"}
    blob = cli_blob("chunk-a")
    started = requests.post(
        base + "bulk_start_upload/",
        json={"symbol_sets": [{"chunk_id": "chunk-a"}]},
        headers=headers,
        timeout=TIMEOUT,
    )
    assert started.status_code == 201, started.text
    issued = started.json()["id_map"]["chunk-a"]
    presigned = issued["presigned_url"]
    uploaded = requests.post(
        presigned["url"], data=presigned["fields"], files={"file": blob}, timeout=TIMEOUT
    )
    assert uploaded.status_code == 204, uploaded.text
    finished = requests.post(
        base + "bulk_finish_upload/",
        json={"content_hashes": {issued["symbol_set_id"]: sha512(blob)}},
        headers=headers,
        timeout=TIMEOUT,
    )
    assert finished.status_code == 201, finished.text
    ids["symbol_set_id"] = issued["symbol_set_id"]
    return ids


# schemathesis' own default for positive_data_acceptance, which an allowance below extends.
ACCEPTED = '"2xx", "3xx", "401", "403", "404", "409", "429", "5xx"'
# Where a schema-valid request is refused for a reason no schema can state; each one says why.
ALLOWANCES = f"""
# DELETE of an evaluation exists only to answer 405, as PostHog (evaluations are archived, never deleted).
[[operations]]
include-operation-id = "delete_evaluation"
checks.positive_data_acceptance.expected-statuses = [{ACCEPTED}, "405"]

# Stored state decides: a chunk id given twice in one request, a release id not in this project, a chunk
# already uploaded with other content (content_hash_mismatch), force with skip_on_conflict.
[[operations]]
include-operation-id-regex = "^bulk_(start|check)_upload$"
checks.positive_data_acceptance.expected-statuses = [{ACCEPTED}, "400"]

# A release id that is well formed but not one of this project's.
[[operations]]
include-operation-id = "start_upload"
checks.positive_data_acceptance.expected-statuses = [{ACCEPTED}, "400"]

# Finishing needs a started upload of that set with its file uploaded (symbol_set_not_found, file_not_found,
# content_hash_mismatch): upload state, not request shape.
[[operations]]
include-operation-id-regex = "^(bulk_)?finish_uploads?$"
checks.positive_data_acceptance.expected-statuses = [{ACCEPTED}, "400"]

# Uploaded bytes are checked as symbol data (PostHog's format, or a minified source with its source map):
# what a file holds is not something a schema states.
[[operations]]
include-operation-id-regex = "^(direct_upload|replace_symbol_set_(put|patch))$"
checks.positive_data_acceptance.expected-statuses = [{ACCEPTED}, "400"]

# A hash_id another release of this project has (code unique): a uniqueness conflict, answered 400 as
# PostHog does, on create and on update.
[[operations]]
include-operation-id-regex = "^(create_release|update_release_(put|patch))$"
checks.positive_data_acceptance.expected-statuses = [{ACCEPTED}, "400"]
"""


def config(ids: dict) -> str:
    """schemathesis.toml: the seeded objects as path parameters (reads and writes reach real rows)."""
    ids = dict(ids)
    spare = ids.pop("spare_project_id")
    lines = ["[parameters]"]
    lines += [f'"path.{name}" = {json.dumps(value)}' for name, value in ids.items()]
    # Deleting a project deletes everything in it: the fuzzer deletes a spare one, not the seeded one.
    deletion = f"""
[[operations]]
include-operation-id = "delete_project"
parameters = {{ "path.project_id" = {spare} }}
"""
    return "\n".join(lines) + "\n" + ALLOWANCES + deletion


def test_schemathesis_finds_nothing(app, user_id, api_key, tmp_path):
    with run_gunicorn(app, tmp_path, environment=UNLIMITED) as server:
        ids = seed(app, user_id, server, api_key)
        config_file = tmp_path / "schemathesis.toml"
        config_file.write_text(config(ids))
        report = tmp_path / "report"
        command = [
            str(SCHEMATHESIS),
            "--config-file",
            str(config_file),
            "run",
            f"{server.base}/api/schema/",
            "--header",
            f"Authorization: Bearer {api_key}",
            "--checks",
            ",".join(CHECKS),
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            str(EXAMPLES),
            "--seed",
            str(SEED),
            "--workers",
            "1",
            "--request-timeout",
            "10",
            "--suppress-health-check",
            "all",
            "--output-sanitize",
            "false",
            "--report",
            "ndjson",
            "--report-dir",
            str(report),
        ]
        started = time.monotonic()
        result = subprocess.run(command, capture_output=True, text=True, timeout=RUN_SECONDS, cwd=tmp_path)
        elapsed = time.monotonic() - started
        output = result.stdout[-20000:] + result.stderr[-4000:]
        print(f"schemathesis took {elapsed:.0f} s\n{output}")
        assert "Test cases:" in output, output  # it ran, rather than failing to start
        assert result.returncode == 0, (
            f"schemathesis found problems:\n{output}\n\nserver log:\n{server.log()}"
        )
    # Schema-valid data got through to the database: the run tested more than the refusals.
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Evaluation)) > 1
        assert db.session.scalar(select(func.count()).select_from(Release)) > 1
        db.session.remove()
