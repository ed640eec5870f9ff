"""Time `flask seed-demo --evaluations N` and a few evaluation list queries on a fresh database.

    .venv/bin/python bench/seed_demo.py [--evaluations N] [--repeat R]

Always runs on a new temporary SQLite file. With BENCH_DATABASE_URL set (a PostgreSQL database used
for nothing else: its public schema is dropped and re-created) it runs there too. See bench/README.md.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from flask_migrate import upgrade
from sqlalchemy import text

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from webapp import create_app, demo  # noqa: E402
from webapp.extensions import db  # noqa: E402
from webapp.services import accounts, api_keys  # noqa: E402

QUERIES = (
    ("default order (-created_at)", {}),
    ("search=hallucination", {"search": "hallucination"}),
    ("search=docs search, order_by=-name", {"search": "docs search", "order_by": "-name"}),
    ("search=SQ (2 chars: no index)", {"search": "SQ"}),
    ("order_by=-name", {"order_by": "-name"}),
    ("enabled=true", {"enabled": "true"}),
    ("enabled=false, order_by=updated_at", {"enabled": "false", "order_by": "updated_at"}),
    ("offset=50000", {"offset": "50000"}),
)


def fresh_app(url: str, workdir: str):
    app = create_app(
        {
            "DATABASE_URL": url,
            "SECRET_KEY": "bench",
            "STORAGE_URL": "file://" + os.path.join(workdir, "storage"),
        }
    )
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as connection:
                connection.execute(text("DROP SCHEMA public CASCADE"))
                connection.execute(text("CREATE SCHEMA public"))
        upgrade()
        db.session.remove()
    return app


def bench(url: str, evaluations: int, repeat: int, workdir: str) -> None:
    app = fresh_app(url, workdir)

    started = time.perf_counter()
    # No symbol sets: this measures evaluations alone.
    result = app.test_cli_runner().invoke(
        args=["seed-demo", "--evaluations", str(evaluations), "--symbol-sets", "0"]
    )
    seconds = time.perf_counter() - started
    if result.exit_code != 0:
        raise SystemExit(f"seed-demo failed:\n{result.output}")
    print(f"seed-demo --evaluations {evaluations}: {seconds:.1f} s ({evaluations / seconds:,.0f} rows/s)")

    with app.app_context():
        user = accounts.find_user_by_email(demo.DEMO_EMAIL)
        project_id = accounts.resolve_project(user, "@current").id
        _, raw_key = api_keys.create_key(user, "bench", "evaluation:read")
        db.session.remove()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {raw_key}"}
    url_path = f"/api/environments/{project_id}/evaluations/"
    print(f"GET {url_path} (limit 100), median of {repeat} after one warm-up:")
    for name, params in QUERIES:
        timings = []
        for attempt in range(repeat + 1):
            started = time.perf_counter()
            response = client.get(url_path, query_string={"limit": "100", **params}, headers=headers)
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                raise SystemExit(f"{name}: {response.status_code} {response.get_data(as_text=True)}")
            if attempt:
                timings.append(elapsed)
        print(f"  {name:<38} {statistics.median(timings) * 1000:8.1f} ms   count={response.json['count']:,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaluations", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database-url", help="run on this database only (used internally)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-") as workdir:
        if args.database_url:
            bench(args.database_url, args.evaluations, args.repeat, workdir)
            return
        targets = [("SQLite (temporary file)", "sqlite:///" + os.path.join(workdir, "bench.sqlite3"))]
        if os.environ.get("BENCH_DATABASE_URL"):
            targets.append(("PostgreSQL (BENCH_DATABASE_URL)", os.environ["BENCH_DATABASE_URL"]))
        for label, url in targets:
            print(f"\n== {label}", flush=True)
            # One process per database: like the server, the app is built once per process.
            command = [sys.executable, __file__, "--database-url", url]
            command += ["--evaluations", str(args.evaluations), "--repeat", str(args.repeat)]
            subprocess.run(command, check=True)
        if len(targets) == 1:
            print("\n(set BENCH_DATABASE_URL to run on PostgreSQL too)")


if __name__ == "__main__":
    main()
