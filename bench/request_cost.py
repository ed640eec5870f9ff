"""The per-request cost of our list API against the bare baseline, in one process, without HTTP.

    .venv/bin/python bench/request_cost.py [--db sqlite|postgresql] [--case NAME,...] [--requests N]
    .venv/bin/python bench/request_cost.py --profile releases      # cProfile of one case, ours only
    valgrind --tool=callgrind --collect-atstart=no --toggle-collect=math_fsum \
        .venv/bin/python bench/request_cost.py --run releases --requests 50   # Ir of 50 requests (ours)

Uses bench/api_list.py's seeded database (the same cache; seeds it when missing), builds each case's WSGI
environ once and calls our app (`create_app().wsgi_app`, as gunicorn does) and bench/bare_list.py's
callable with it N times in turn, reading each body. Prints the time per request of each, their
difference (what our framework, auth, limiter and statement building add) and the ratio. Each side's best
of --repeat runs counts: on a shared machine the minimum is the steadiest figure. No network, no server:
the fixed cost of a request without gunicorn's and the kernel's share (which both sides pay alike).
"""

import argparse
import cProfile
import math
import os
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import api_list  # noqa: E402
import bare_list  # noqa: E402

FAST_CASES = "releases,search-helpful,limit-10,sets-ref-search,sets-failed,enabled-name"


def environ(path: str, key: str) -> dict:
    from werkzeug.test import EnvironBuilder

    builder = EnvironBuilder(path=path, headers={"Authorization": f"Bearer {key}"})
    try:
        return builder.get_environ()
    finally:
        builder.close()


def call(app, base: dict) -> bytes:
    """One request through a WSGI callable: the body, checked to be a 200."""
    status = []
    body = b"".join(app(dict(base), lambda code, headers, exc_info=None: status.append(code)))
    if not status[0].startswith("200"):
        raise SystemExit(f"{base['PATH_INFO']}?{base['QUERY_STRING']}: {status[0]} {body[:300]!r}")
    return body


def per_request(app, base: dict, requests: int) -> float:
    """CPU seconds of this process per request over `requests` calls (SQLite works in the process; a
    PostgreSQL server's share is not counted). CPU time, not wall-clock: other load on the machine
    barely moves it."""
    started = time.process_time()
    for _ in range(requests):
        call(app, base)
    return (time.process_time() - started) / requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--case", type=api_list.names, default=api_list.names(FAST_CASES))
    parser.add_argument("--requests", type=int, default=300, help="requests per run")
    parser.add_argument("--repeat", type=int, default=5, help="runs per side (the best counts)")
    parser.add_argument("--profile", metavar="CASE", help="profile this case (ours) instead of timing")
    parser.add_argument(
        "--run",
        metavar="CASE",
        help="only send this case --requests times after 20 to warm up (ours; --bare: the baseline), for "
        "valgrind --tool=callgrind: the measured requests run inside math.fsum, so --collect-atstart=no "
        "--toggle-collect=math_fsum counts them alone",
    )
    parser.add_argument("--bare", action="store_true", help="with --run: the baseline instead of ours")
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "webapp-bench"
    parser.add_argument("--cache-dir", type=Path, default=cache)
    parser.add_argument("--evaluations", type=int, default=100_000)
    parser.add_argument("--symbol-sets", type=int, default=100_000)
    args = parser.parse_args()

    args.cache_dir.mkdir(parents=True, exist_ok=True)
    if args.db == "sqlite":
        url, storage = api_list.prepare_sqlite(args.cache_dir, args.evaluations, args.symbol_sets, False)
        bare_url = url
    else:
        pg_url = os.environ.get("BENCH_DATABASE_URL")
        if not pg_url or pg_url.rstrip("/").endswith("/test"):
            raise SystemExit("--db postgresql needs BENCH_DATABASE_URL (a database used for nothing else)")
        url, storage = api_list.prepare_postgresql(
            pg_url, args.cache_dir, args.evaluations, args.symbol_sets, False
        )
        bare_url = url
    key, project_id, ref = api_list.bench_key(url, storage)
    # As api_list.py serves it: limits lifted (one key sends far more than 480 a minute), limiter running.
    os.environ["API_RATE_LIMITS"] = "1000000/second"
    ours = api_list.make_app(url, storage).wsgi_app
    bare = bare_list.BareList(bare_url)
    base = f"/api/environments/{project_id}/"
    chosen = {case.name: case for case in api_list.cases(args.evaluations, ref)}
    single = args.profile or args.run
    unknown = [name for name in ([single] if single else args.case) if name not in chosen]
    if unknown:
        raise SystemExit(f"unknown case(s): {', '.join(unknown)}; known: {', '.join(chosen)}")

    if args.run:
        target = bare if args.bare else ours
        request = environ(api_list.case_path(base, chosen[args.run]), key)
        per_request(target, request, 20)
        # Nothing on the request path calls math.fsum: callgrind toggled on it counts these requests and
        # nothing of the start-up (seconds of imports and app creation).
        math.fsum(call(target, request) and 0.0 for _ in range(args.requests))
        return

    if args.profile:
        request = environ(api_list.case_path(base, chosen[args.profile]), key)
        per_request(ours, request, 50)  # warm
        # CPU time, as the timings below: wall time would count the database server's work (PostgreSQL).
        profile = cProfile.Profile(time.process_time)
        profile.runcall(per_request, ours, request, args.requests)
        stats = pstats.Stats(profile).strip_dirs()
        stats.sort_stats("cumulative").print_stats(45)
        stats.sort_stats("tottime").print_stats(30)
        return

    print(f"{args.db}: {args.requests} requests per run, best of {args.repeat}; ms per request")
    print(f"{'case':<16} {'ours':>7} {'bare':>7} {'added':>7} {'ratio':>6}")
    for name in args.case:
        request = environ(api_list.case_path(base, chosen[name]), key)
        per_request(ours, request, 20)  # warm: statement caches, connections
        per_request(bare, request, 20)
        timings = {"ours": [], "bare": []}
        for _ in range(args.repeat):
            timings["ours"].append(per_request(ours, request, args.requests))
            timings["bare"].append(per_request(bare, request, args.requests))
        mine, theirs = min(timings["ours"]) * 1000, min(timings["bare"]) * 1000
        print(f"{name:<16} {mine:7.3f} {theirs:7.3f} {mine - theirs:7.3f} {theirs / mine:6.2f}", flush=True)
    bare.close()


if __name__ == "__main__":
    main()
