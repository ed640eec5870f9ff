"""How close our API can get to the bare baseline for a tiny request: the framework's floor, under gunicorn.

    .venv/bin/python bench/framework_floor.py [--db sqlite|postgresql|all] [--duration S]

Serves four WSGI apps, each with gunicorn as bench/api_list.py runs them (gthread, 2 workers, 8 threads) on
127.0.0.1, and drives them with the same requests (wrk, else api_list.py's Python client):

- bare-constant: a plain WSGI callable that answers a constant JSON body (orjson.dumps of a constant value);
- flask-minimal: a Flask app with one route answering the same body the same way: Flask's own cost;
- ours: our app's releases list (2 rows: almost no database work), as api_list.py serves it;
- bare-releases: bench/bare_list.py's releases list, the baseline of api_list.py's `releases` case.

The constant body is our releases answer, so all four send the same bytes. Ratios: flask-minimal/bare-constant
is the most a Flask app can reach against a bare callable for a request this small (the ceiling of issue 8's
0.8 target for `releases`); ours/flask-minimal is what our code (hooks, auth, limiter, statements) leaves of
that; ours/bare-releases is api_list.py's ratio. Uses api_list.py's seed cache, key and servers. See
bench/README.md.
"""

import argparse
import os
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import api_list  # noqa: E402

BODY_VARIABLE = "FRAMEWORK_FLOOR_BODY"
CASE = "releases"


def _constant_value():
    """The value the constant apps answer: parsed once from the body the benchmark hands them."""
    import orjson

    return orjson.loads(os.environ[BODY_VARIABLE])


def _dumps(value) -> bytes:
    """As our JSON provider writes it (sorted keys, a trailing newline): the same bytes as ours."""
    import orjson

    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE)


def bare_constant():
    """gunicorn factory: a WSGI callable answering the constant value as JSON, nothing else."""
    value = _constant_value()

    def application(environ, start_response):
        body = _dumps(value)
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    return application


def flask_minimal():
    """gunicorn factory: a Flask app, one route (the releases path), answering the same JSON the same way."""
    from flask import Flask

    value = _constant_value()
    app = Flask("flask_minimal")

    @app.get("/api/environments/<project_id>/error_tracking/releases/")
    def releases(project_id):
        return app.response_class(_dumps(value), mimetype="application/json")

    return app


def bench_database(label: str, url: str, storage: Path, args) -> bool:
    raw_key, project_id, ref_fragment = api_list.bench_key(url, storage)
    headers = {"Authorization": f"Bearer {raw_key}"}
    case = next(case for case in api_list.cases(args.evaluations, ref_fragment) if case.name == CASE)
    path = api_list.case_path(f"/api/environments/{project_id}/", case)
    ours, bare = api_list.our_server("ours", url, storage), api_list.bare_server("bare-releases", url)
    servers = [ours, bare]
    try:
        for server in servers:
            server.wait_ready(path, headers)
        answers = {server.label: api_list.fetch(server.port, path, headers) for server in servers}
        parsed = [api_list.normalized(answers[server.label][1], server.port) for server in servers]
        difference = api_list.first_difference(*parsed)
        if difference:
            print(f"MISMATCH ours/bare-releases: {difference}")
            return False
        body = answers["ours"][1]
        constant = {BODY_VARIABLE: body.decode()}
        servers += [
            api_list.Server("flask-minimal", "framework_floor:flask_minimal()", constant, BENCH),
            api_list.Server("bare-constant", "framework_floor:bare_constant()", constant, BENCH),
        ]
        for server in servers[2:]:
            server.wait_ready(path, headers)
            if api_list.fetch(server.port, path, headers) != (200, body):
                print(f"{server.label} does not answer our releases body")
                return False
        print(f"All four answer the same body ({len(body)} bytes).", flush=True)

        driver = api_list.Driver(raw_key, args)
        results, errors = api_list.measure(driver, [(server, path) for server in servers], args)
        print()
        print(f"### {label}: {driver.name}, {args.connections} connections for req/s, "
              f"1 for p50/p99; best of {args.rounds} alternating rounds of {args.duration / args.rounds:g} s "
              f"(single client: {args.latency_duration / args.rounds:g} s); errors: {errors}")  # fmt: skip
        print()
        print("| server | what | req/s | p50 / p99 ms |")
        print("|---|---|---:|---:|")
        what = {
            "bare-constant": "WSGI callable, constant JSON",
            "flask-minimal": "Flask, one route, constant JSON",
            "ours": "our app, `releases` (2 rows)",
            "bare-releases": "bench/bare_list.py, `releases`",
        }
        for server in reversed(servers):
            load, single = results[server.label, "load"], results[server.label, "single"]
            print(f"| {server.label} | {what[server.label]} | {api_list.rate(load.rps)} | "
                  f"{single.p50_ms:.2f} / {single.p99_ms:.2f} |")  # fmt: skip
        rps = {server.label: results[server.label, "load"].rps for server in servers}
        print()
        for top, bottom, meaning in (
            ("flask-minimal", "bare-constant", "the framework's ceiling for a tiny request"),
            ("ours", "flask-minimal", "what our code leaves of Flask's rate"),
            ("ours", "bare-releases", "api_list.py's `releases` ratio"),
            ("flask-minimal", "bare-releases", "a Flask app with nothing to do, against the baseline's list"),
        ):
            ratio = rps[top] / rps[bottom] if rps[bottom] else float("nan")
            print(f"- {top} / {bottom}: **{ratio:.2f}** ({meaning})")
        return True
    finally:
        for server in servers:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "all"), default="sqlite",
                        help="the database of ours and bare-releases (all: both)")  # fmt: skip
    parser.add_argument("--duration", type=float, default=10, help="seconds of load per server")
    api_list.add_load_arguments(parser)
    args = parser.parse_args()
    pg_url = api_list.postgresql_url(args, needed=args.db in ("postgresql", "all"))
    print(api_list.machine(), flush=True)
    ok = True
    if args.db in ("sqlite", "all"):
        print("\n== SQLite", flush=True)
        url, storage = api_list.prepare_sqlite(args.cache_dir, args.evaluations, args.symbol_sets, False)
        ok &= bench_database("SQLite", url, storage, args)
    if args.db in ("postgresql", "all"):
        print("\n== PostgreSQL", flush=True)
        url, storage = api_list.prepare_postgresql(
            pg_url, args.cache_dir, args.evaluations, args.symbol_sets, False
        )
        ok &= bench_database("PostgreSQL", url, storage, args)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
