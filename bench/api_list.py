"""Our list API against a bare baseline over the same database, under gunicorn, at 100,000 rows.

    .venv/bin/python bench/api_list.py [--db sqlite|postgresql|all] [--case NAME,...] [--duration S]

Seeds 100,000 evaluations and 100,000 symbol sets in one project (cached between runs; --reseed forces
it), serves our app (wsgi:app) and bench/bare_list.py each with gunicorn (gthread, 2 workers, 8 threads,
like `make run`) on 127.0.0.1, checks that every case's answer from both is the same JSON, then drives
both with the same requests (wrk when installed, else a Python client): requests/s at 8 connections and
p50/p99 latency of a single client. SQLite always; PostgreSQL when BENCH_DATABASE_URL is set (its public
schema is replaced when the seed is not the cached one). See bench/README.md.
"""

import argparse
import hashlib
import http.client
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BIN = Path(sys.executable).parent
KEY_LABEL = "api_list bench"
# gunicorn as `make run` starts it.
WORKERS = ["--worker-class", "gthread", "--workers", "2", "--threads", "8"]
# Two servers at once (and other runs on the machine): no shared control socket.
SERVER_OPTIONS = ["--no-control-socket"]
TARGET_RATIO = 0.8
TARGET_P50_MS = 20.0
MARKER_TABLE = "bench_api_list_seed"


@dataclass(frozen=True)
class Case:
    name: str
    resource: str  # the path under /api/environments/<id>/
    params: tuple[tuple[str, str], ...]


def cases(evaluations: int, ref_fragment: str) -> list[Case]:
    evaluation, sets = "evaluations/", "error_tracking/symbol_sets/"
    return [
        Case("default", evaluation, ()),
        Case("limit-10", evaluation, (("limit", "10"),)),
        Case("search-helpful", evaluation, (("search", "helpful"),)),
        Case("search-word", evaluation, (("search", "hallucination"),)),
        Case("enabled-name", evaluation, (("enabled", "true"), ("order_by", "-name"))),
        Case("deep-offset", evaluation, (("order_by", "name"), ("offset", str(max(evaluations - 100, 0))))),
        Case("search-1char", evaluation, (("search", "q"),)),
        Case("search-2char", evaluation, (("search", "SQ"),)),
        Case("search-phrase", evaluation, (("search", "docs search"), ("order_by", "-name"))),
        Case("sets-default", sets, ()),
        Case("sets-failed", sets, (("status", "failed"),)),
        Case("sets-ref-search", sets, (("search", ref_fragment),)),
        Case("releases", "error_tracking/releases/", ()),
    ]


def case_path(base: str, case: Case) -> str:
    """The request path of a case under `base` (/api/environments/<id>/)."""
    return base + case.resource + ("?" + urlencode(case.params, quote_via=quote) if case.params else "")


def describe(case: Case) -> str:
    query = "&".join(f"{name}={value}" for name, value in case.params) or "(default)"
    prefix = {"error_tracking/symbol_sets/": "symbol sets ", "error_tracking/releases/": "releases "}
    return prefix.get(case.resource, "") + query


# --- the seeded database ----------------------------------------------------------------------


def seed_key(evaluations: int, symbol_sets: int) -> str:
    """Migration head, the text of the migrations, the seeder and the JSON columns' writer (json_columns.py),
    the row counts: any change means a new seed."""
    versions = sorted((ROOT / "migrations" / "versions").glob("*.py"))
    sources = [
        *versions,
        *sorted((ROOT / "webapp" / "demo").glob("*.py")),
        ROOT / "webapp" / "json_columns.py",
    ]
    digest = hashlib.sha256(b"".join(path.read_bytes() for path in sources)).hexdigest()[:12]
    return f"{versions[-1].stem.split('_')[0]}-{digest}-e{evaluations}-s{symbol_sets}"


def make_app(url: str, storage: Path):
    from webapp import create_app

    return create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "STORAGE_URL": f"file://{storage}"})


def seed(app, evaluations: int, symbol_sets: int) -> None:
    """`flask seed-demo` (the real command); symbol sets in rounds of its maximum per call."""
    from webapp import demo

    remaining, first = symbol_sets, True
    while first or remaining > 0:
        round_sets = min(remaining, demo.MAX_SYMBOL_SETS)
        command = [
            "seed-demo",
            "--evaluations",
            str(evaluations if first else 0),
            "--symbol-sets",
            str(round_sets),
        ]
        started = time.perf_counter()
        result = app.test_cli_runner().invoke(args=command)
        if result.exit_code != 0:
            raise SystemExit(f"seed-demo failed:\n{result.output}")
        print(f"  {' '.join(command)}: {time.perf_counter() - started:.1f} s", flush=True)
        remaining -= round_sets
        first = False


def prepare_sqlite(cache: Path, evaluations: int, symbol_sets: int, reseed: bool) -> tuple[str, Path]:
    """The cached SQLite file for this seed, built (in a folder renamed when complete) if missing."""
    from flask_migrate import upgrade

    folder = cache / f"sqlite-{seed_key(evaluations, symbol_sets)}"
    if reseed and folder.exists():
        shutil.rmtree(folder)
    if not folder.exists():
        # A folder of this process's own: another run may be seeding the same key meanwhile.
        partial = folder.with_name(f"{folder.name}.partial-{os.getpid()}")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        print(f"Seeding SQLite into {folder} ...", flush=True)
        app = make_app(f"sqlite:///{partial / 'bench.sqlite3'}", partial / "storage")
        with app.app_context():
            upgrade(directory=str(ROOT / "migrations"))
            seed(app, evaluations, symbol_sets)
            from webapp.extensions import db

            db.engine.dispose()
        try:
            partial.rename(folder)
        except OSError:  # the other run finished first: use its seed
            shutil.rmtree(partial, ignore_errors=True)
    else:
        print(f"Using the cached SQLite seed {folder}", flush=True)
    return f"sqlite:///{folder / 'bench.sqlite3'}", folder / "storage"


def prepare_postgresql(
    url: str, cache: Path, evaluations: int, symbol_sets: int, reseed: bool
) -> tuple[str, Path]:
    """BENCH_DATABASE_URL's public schema, reseeded unless its marker names this seed."""
    from flask_migrate import upgrade
    from sqlalchemy import text

    key = seed_key(evaluations, symbol_sets)
    # One folder per database: runs on other databases (other worktrees) share the cache folder.
    storage = cache / f"postgresql-storage-{hashlib.sha256(url.encode()).hexdigest()[:12]}"
    app = make_app(url, storage)
    with app.app_context():
        from webapp.extensions import db

        with db.engine.connect() as connection:
            found = connection.execute(
                text("SELECT to_regclass(:table) IS NOT NULL"), {"table": f"public.{MARKER_TABLE}"}
            ).scalar()
            seeded = found and connection.execute(text(f"SELECT key FROM {MARKER_TABLE}")).scalar()
        if seeded == key and not reseed and storage.exists():
            print(f"Using the cached PostgreSQL seed ({key})", flush=True)
            return url, storage
        print(f"Seeding PostgreSQL ({url}) ...", flush=True)
        shutil.rmtree(storage, ignore_errors=True)
        with db.engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        upgrade(directory=str(ROOT / "migrations"))
        seed(app, evaluations, symbol_sets)
        # What autovacuum does soon after a bulk insert: planner statistics and the visibility map.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
        with db.engine.begin() as connection:
            connection.execute(text(f"CREATE TABLE {MARKER_TABLE} (key text NOT NULL)"))
            connection.execute(text(f"INSERT INTO {MARKER_TABLE} VALUES (:key)"), {"key": key})
        db.engine.dispose()
    return url, storage


def _running(pid: str) -> bool:
    """Whether the process with this id (text) is still running here."""
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def bench_key(url: str, storage: Path) -> tuple[str, int, str]:
    """A read key of this run's own for the demo user, its project and a ref fragment.

    Each run labels its key with its process id, so runs at once on one seed keep their keys; the keys of
    runs that have ended are deleted (a user may hold only a few keys).
    """
    from sqlalchemy import select

    from webapp import demo
    from webapp.extensions import db
    from webapp.models import SymbolSet
    from webapp.services import accounts, api_keys

    app = make_app(url, storage)
    with app.app_context():
        user = accounts.find_user_by_email(demo.DEMO_EMAIL)
        for key in api_keys.list_keys(user):
            if key.label.startswith(KEY_LABEL) and not _running(key.label.removeprefix(KEY_LABEL)):
                api_keys.delete_key(user, str(key.id))
        label = f"{KEY_LABEL} {os.getpid()}"
        _, raw_key = api_keys.create_key(user, label, "evaluation:read,error_tracking:read")
        project_id = accounts.resolve_project(user, "@current").id
        # A ref search as a user types it: the first 8 characters of a chunk id.
        ref = db.session.scalar(
            select(SymbolSet.ref).where(SymbolSet.project_id == project_id).order_by(SymbolSet.pk)
        )
        db.session.remove()
        db.engine.dispose()
    return raw_key, project_id, (ref or "00000000")[:8]


# --- servers ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """gunicorn serving one WSGI app on 127.0.0.1."""

    def __init__(self, label: str, target: str, env: dict, chdir: Path):
        self.label, self.port = label, free_port()
        command = [
            str(BIN / "gunicorn"),
            *WORKERS,
            *SERVER_OPTIONS,
            "--bind",
            f"127.0.0.1:{self.port}",
            "--chdir",
            str(chdir),
            target,
        ]
        # The server's output, shown if it does not start.
        self.log = tempfile.TemporaryFile("w+")  # noqa: SIM115 (closed in stop())
        self.process = subprocess.Popen(
            command,
            env={**os.environ, **env},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, path: str, headers: dict) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                status, _ = fetch(self.port, path, headers)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.log.seek(0)
        raise SystemExit(f"{self.label} did not start:\n{self.log.read()[-3000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


def our_server(label: str, url: str, storage: Path, env: dict | None = None) -> Server:
    """Our app (wsgi:app) over `url`, its API rate limits lifted (one key sends far more than PostHog's 480
    a minute; the limiter itself still runs); `env` adds settings."""
    limits = "1000000/second"
    settings = {"DATABASE_URL": url, "STORAGE_URL": f"file://{storage}", "SECRET_KEY": "bench",
                "API_RATE_LIMITS": limits, "UPLOAD_RATE_LIMITS": limits}  # fmt: skip
    return Server(label, "wsgi:app", {**settings, **(env or {})}, ROOT)


def bare_server(label: str, url: str) -> Server:
    """The bare baseline (bench/bare_list.py) over `url`."""
    return Server(label, "bare_list:from_environment()", {"BARE_DATABASE_URL": url}, ROOT / "bench")


def fetch(port: int, path: str, headers: dict) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


# --- comparing answers ------------------------------------------------------------------------


def normalized(body: bytes, port: int):
    """The parsed JSON with this server's address in next/previous replaced by a placeholder."""
    return json.loads(body.decode().replace(f"http://127.0.0.1:{port}/", "http://HOST/"))


def first_difference(ours, bare, where: str = "") -> str | None:
    if type(ours) is not type(bare) and not (isinstance(ours, int | float) and isinstance(bare, int | float)):
        return f"{where or '/'}: ours {ours!r:.200} != bare {bare!r:.200}"
    if isinstance(ours, dict):
        for key in sorted(set(ours) | set(bare)):
            if key not in ours or key not in bare:
                return f"{where}/{key}: only in {'ours' if key in ours else 'bare'}"
            found = first_difference(ours[key], bare[key], f"{where}/{key}")
            if found:
                return found
        return None
    if isinstance(ours, list):
        if len(ours) != len(bare):
            return f"{where}: {len(ours)} items (ours) != {len(bare)} (bare)"
        for index, (a, b) in enumerate(zip(ours, bare, strict=True)):
            found = first_difference(a, b, f"{where}/{index}")
            if found:
                return found
        return None
    return None if ours == bare else f"{where or '/'}: ours {ours!r:.200} != bare {bare!r:.200}"


# --- load -------------------------------------------------------------------------------------


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int  # answered, errors included


def parse_wrk_time(text: str) -> float:
    """wrk's "850.00us" / "1.23ms" / "1.02s" / "2.00m" in milliseconds."""
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(url: str, key: str, connections: int, threads: int, seconds: float) -> Result:
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, math.ceil(seconds))}s",
        "--latency",
        "--timeout",
        "10s",
    ]
    output = subprocess.run(
        [*command, "-H", f"Authorization: Bearer {key}", url], capture_output=True, text=True, check=True
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    if requests == 0:
        return Result(0.0, math.nan, math.nan, 1, 0)  # not one answer within the run: an error
    p50 = parse_wrk_time(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1))
    p99 = parse_wrk_time(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", output))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return Result(rps, p50, p99, errors, requests)


def run_python(port: int, path: str, key: str, connections: int, seconds: float) -> Result:
    """A bounded client: `connections` threads, each one keep-alive connection, for `seconds`."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine, failed = [], 0
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                connection.request("GET", path, headers={"Authorization": f"Bearer {key}"})
                response = connection.getresponse()
                response.read()
                failed += response.status != 200
            except (OSError, http.client.HTTPException):
                failed += 1
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            mine.append(time.perf_counter() - started)
        connection.close()
        with lock:
            latencies.extend(mine)
            errors[0] += failed

    started = time.perf_counter()
    workers = [threading.Thread(target=client) for _ in range(connections)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    latencies.sort()
    if not latencies:
        return Result(0.0, float("nan"), float("nan"), errors[0], 0)
    percentile = lambda share: latencies[min(len(latencies) - 1, int(share * len(latencies)))] * 1000  # noqa: E731
    return Result(len(latencies) / elapsed, percentile(0.50), percentile(0.99), errors[0], len(latencies))


def best(rounds: list[Result], kind: str) -> Result:
    """The round with the most requests/s (load) or the lowest p50 (single client)."""
    if kind == "load":
        return max(rounds, key=lambda result: result.rps)
    return min(rounds, key=lambda result: math.inf if math.isnan(result.p50_ms) else result.p50_ms)


class Driver:
    def __init__(self, key: str, args):
        self.key, self.args = key, args
        self.wrk = shutil.which("wrk") and not args.python_client

    @property
    def name(self) -> str:
        return "wrk" if self.wrk else "Python client (http.client threads)"

    def run(self, port: int, path: str, connections: int, seconds: float) -> Result:
        if self.wrk:
            threads = min(self.args.threads, connections)
            return run_wrk(f"http://127.0.0.1:{port}{path}", self.key, connections, threads, seconds)
        return run_python(port, path, self.key, connections, seconds)


def measure(driver: Driver, targets: list[tuple["Server", str]], args) -> tuple[dict, int]:
    """Each (server, path): requests/s under load ("load") and single-client latency ("single"), the best
    of args.rounds rounds that alternate between the servers; and the errors of all rounds."""
    results = {}
    for server, path in targets:  # warm up each worker's connections and statement caches
        driver.run(server.port, path, args.connections, 1)
    # Rounds alternate between the servers and the best round counts, for all alike: a load spike from
    # elsewhere on a shared machine then rarely decides a ratio.
    for kind, connections, seconds in (
        ("load", args.connections, args.duration),
        ("single", 1, args.latency_duration),
    ):
        for _ in range(args.rounds):
            for server, path in targets:
                result = driver.run(server.port, path, connections, seconds / args.rounds)
                results.setdefault((server.label, kind), []).append(result)
    errors = sum(result.errors for rounds in results.values() for result in rounds)
    return {(label, kind): best(rounds, kind) for (label, kind), rounds in results.items()}, errors


# --- one database -----------------------------------------------------------------------------


def bench_database(label: str, url: str, storage: Path, args) -> bool:
    raw_key, project_id, ref_fragment = bench_key(url, storage)
    headers = {"Authorization": f"Bearer {raw_key}"}
    chosen = [
        case for case in cases(args.evaluations, ref_fragment) if not args.case or case.name in args.case
    ]
    unknown = set(args.case or ()) - {case.name for case in cases(args.evaluations, ref_fragment)}
    if unknown:
        raise SystemExit(f"unknown case(s): {', '.join(sorted(unknown))}")
    ours, bare = our_server(f"ours-{label}", url, storage), bare_server(f"bare-{label}", url)
    servers = (ours, bare)
    try:
        base = f"/api/environments/{project_id}/"
        for server in servers:
            server.wait_ready(base + "evaluations/?limit=1", headers)
        paths = {case.name: case_path(base, case) for case in chosen}
        counts, same = {}, True
        for case in chosen:
            answers = []
            for server in servers:
                status, body = fetch(server.port, paths[case.name], headers)
                if status != 200:
                    print(f"  {case.name}: {server.label} answered {status}: {body[:300]!r}")
                    same = False
                answers.append(normalized(body, server.port) if status == 200 else None)
            if None not in answers:
                difference = first_difference(*answers)
                if difference:
                    print(f"  MISMATCH {case.name} ({paths[case.name]}): {difference}")
                    same = False
                counts[case.name] = answers[0]["count"]
        if not same:
            print("The bare baseline does not answer as our app does: no timing.")
            return False
        print(f"All {len(chosen)} answers equal (parsed JSON, host normalized).", flush=True)
        if args.check_only:
            return True

        driver = Driver(raw_key, args)
        rows = []
        for case in chosen:
            results, errors = measure(driver, [(server, paths[case.name]) for server in servers], args)
            row = (case, counts[case.name], results[ours.label, "load"], results[bare.label, "load"],
                   results[ours.label, "single"], results[bare.label, "single"], errors)  # fmt: skip
            rows.append(row)
            print("  " + table_row(*row), flush=True)
        print()
        print(f"### {label}: {driver.name}, {args.connections} connections for req/s, 1 for p50/p99; best of "
              f"{args.rounds} alternating rounds of {args.duration / args.rounds:g} s "
              f"(single client: {args.latency_duration / args.rounds:g} s)")  # fmt: skip
        print()
        print(TABLE_HEADER)
        for row in rows:
            print(table_row(*row))
        return True
    finally:
        for server in servers:
            server.stop()


TABLE_HEADER = (
    "| case | query | rows | ours req/s | bare req/s | ratio | ours p50 / p99 ms | bare p50 / p99 ms | |\n"
    "|---|---|---:|---:|---:|---:|---:|---:|---|"
)


def rate(rps: float) -> str:
    return f"{rps:,.0f}" if rps >= 100 else f"{rps:.1f}"


def table_row(
    case: Case, count: int, ours: Result, bare: Result, ours_single: Result, bare_single: Result, errors: int
) -> str:
    ratio = ours.rps / bare.rps if bare.rps else float("nan")
    misses = []
    if not ratio >= TARGET_RATIO:
        misses.append(f"ratio < {TARGET_RATIO}")
    if not ours_single.p50_ms <= TARGET_P50_MS:
        misses.append(f"p50 > {TARGET_P50_MS:g} ms")
    if errors:
        misses.append(f"{errors} errors")
    return (
        f"| {case.name} | `{describe(case)}` | {count:,} | "
        f"{rate(ours.rps)} | {rate(bare.rps)} | {ratio:.2f} | "
        f"{ours_single.p50_ms:.1f} / {ours_single.p99_ms:.1f} | "
        f"{bare_single.p50_ms:.1f} / {bare_single.p99_ms:.1f} | "
        f"{'MISS: ' + ', '.join(misses) if misses else 'ok'} |"
    )


def machine() -> str:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    cpu = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "?")
    return (
        f"commit {commit}{' (with local changes)' if dirty else ''}, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs ({cpu}), "
        f"load average {os.getloadavg()[0]:.1f}, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}"
    )


def names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def add_load_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every wrk-driven benchmark here shares: load, rounds, seed size, client and seed cache."""
    parser.add_argument("--latency-duration", type=float, default=5, help="seconds of the single client")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per server (best counts)")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--evaluations", type=int, default=100_000)
    parser.add_argument("--symbol-sets", type=int, default=100_000)
    parser.add_argument(
        "--python-client", action="store_true", help="use the Python client even if wrk is installed"
    )
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "webapp-bench"
    parser.add_argument("--cache-dir", type=Path, default=cache, help=f"where seeds are kept ({cache})")


def postgresql_url(args, needed: bool) -> str | None:
    """BENCH_DATABASE_URL, refused when it is `needed` but unset or names the test database; makes the
    seed cache folder."""
    pg_url = os.environ.get("BENCH_DATABASE_URL")
    if needed and not pg_url:
        raise SystemExit("--db postgresql needs BENCH_DATABASE_URL (a database used for nothing else)")
    if pg_url and pg_url.rstrip("/").endswith("/test"):
        raise SystemExit("BENCH_DATABASE_URL names the test database; use one of its own (createdb bench)")
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    return pg_url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "all"), default="all",
                        help="all: SQLite, and PostgreSQL when BENCH_DATABASE_URL is set")  # fmt: skip
    parser.add_argument("--case", type=names, help="only these cases (comma list of names)")
    parser.add_argument("--duration", type=float, default=10, help="seconds of load per case and server")
    add_load_arguments(parser)
    parser.add_argument("--reseed", action="store_true", help="seed again even if the cached seed matches")
    parser.add_argument("--check-only", action="store_true", help="compare the answers, time nothing")
    args = parser.parse_args()
    pg_url = postgresql_url(args, needed=args.db == "postgresql")
    print(machine(), flush=True)
    ok = True
    if args.db in ("sqlite", "all"):
        print("\n== SQLite", flush=True)
        url, storage = prepare_sqlite(args.cache_dir, args.evaluations, args.symbol_sets, args.reseed)
        ok &= bench_database("SQLite", url, storage, args)
    if args.db in ("postgresql", "all") and pg_url:
        print("\n== PostgreSQL", flush=True)
        url, storage = prepare_postgresql(
            pg_url, args.cache_dir, args.evaluations, args.symbol_sets, args.reseed
        )
        ok &= bench_database("PostgreSQL", url, storage, args)
    elif args.db == "all":
        print("\n(set BENCH_DATABASE_URL to run on PostgreSQL too)")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
