"""CPU per request under load: each server's own processes and the database server's, while wrk drives it.

    .venv/bin/python bench/load_cpu.py --db postgresql --case sets-failed,enabled-name --gates 2,0
    .venv/bin/python bench/load_cpu.py --db sqlite --case search-helpful --gates 2,0 --rounds 5

Uses bench/api_list.py's seed (the same cache; seeds it when missing), servers and cases. Starts our app once
per WORKER_ACTIVE_REQUESTS value in --gates ("default": left unset) and the bare baseline, then per case and
round drives each server in turn with wrk (8 connections, --seconds) and reads from /proc the CPU time its
gunicorn processes spent, and with PostgreSQL the CPU time of the server's processes (those of the `postgres`
user alive before and after the round; a pool's overflow connection closed during the round takes its
time with it, so that column can read low), each divided by the requests answered. Requests/s swing with other
load on a shared 2-core machine; CPU per request moves much less, so two settings compare in a few rounds.
Linux only (/proc); needs wrk.
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import api_list  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pids) -> dict[int, int]:
    """User plus system CPU ticks of each process still alive."""
    ticks = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it exited meanwhile
        ticks[pid] = int(fields[11]) + int(fields[12])
    return ticks


def pids_of(*arguments: str) -> list[int]:
    """The processes `pgrep` finds with these arguments."""
    found = subprocess.run(["pgrep", *arguments], capture_output=True, text=True).stdout
    return [int(pid) for pid in found.split()]


def used_seconds(before: dict[int, int], after: dict[int, int]) -> float:
    """CPU seconds spent between two readings by the processes present in both."""
    return sum(after[pid] - before[pid] for pid in before.keys() & after.keys()) / TICKS


def joined(values, spec: str) -> str:
    return "/".join(format(value, spec) for value in values)


def wrk(port: int, path: str, key: str, seconds: int) -> api_list.Result:
    """One wrk run of 8 connections (api_list.run_wrk); every answer must be a 200."""
    result = api_list.run_wrk(f"http://127.0.0.1:{port}{path}", key, 8, 2, seconds)
    if result.errors:
        raise SystemExit(f"{path}: {result.errors} answers were not 200 (or failed)")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--case", type=api_list.names, default=api_list.names("sets-failed,enabled-name"))
    parser.add_argument("--gates", default="default", help="WORKER_ACTIVE_REQUESTS values (comma list)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=4, help="wrk's duration per round and server")
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "webapp-bench"
    parser.add_argument("--cache-dir", type=Path, default=cache)
    args = parser.parse_args()

    pg_url = api_list.postgresql_url(args, needed=args.db == "postgresql")  # also makes the cache folder
    if args.db == "sqlite":
        url, storage = api_list.prepare_sqlite(args.cache_dir, 100_000, 100_000, False)
    else:
        url, storage = api_list.prepare_postgresql(pg_url, args.cache_dir, 100_000, 100_000, False)
    key, project_id, ref = api_list.bench_key(url, storage)
    servers = {}
    for gate in args.gates.split(","):
        env = {} if gate == "default" else {"WORKER_ACTIVE_REQUESTS": gate}
        servers[f"ours gate={gate}"] = api_list.our_server(f"ours-{gate}", url, storage, env)
    servers["bare"] = api_list.bare_server("bare", url)
    base = f"/api/environments/{project_id}/"
    known = {case.name: case for case in api_list.cases(100_000, ref)}
    try:
        for server in servers.values():
            server.wait_ready(base + "evaluations/?limit=1", {"Authorization": f"Bearer {key}"})
        print(f"{args.db}: {args.rounds} rounds of {args.seconds} s per server; CPU ms per request "
              "(sorted, each round)")  # fmt: skip
        for name in args.case:
            path = api_list.case_path(base, known[name])
            rounds = {label: [] for label in servers}
            for server in servers.values():
                wrk(server.port, path, key, 1)  # warm
            for _ in range(args.rounds):
                for label, server in servers.items():
                    app_pids = [server.process.pid, *pids_of("-P", str(server.process.pid))]
                    db_pids = pids_of("-u", "postgres") if args.db == "postgresql" else []
                    app_before, db_before = cpu_ticks(app_pids), cpu_ticks(db_pids)
                    result = wrk(server.port, path, key, args.seconds)
                    app_ms = used_seconds(app_before, cpu_ticks(app_pids)) / result.requests * 1000
                    db_ms = used_seconds(db_before, cpu_ticks(db_pids)) / result.requests * 1000
                    rounds[label].append((result.rps, app_ms, db_ms))
            for label, results in rounds.items():
                rps, app_ms, db_ms = (sorted(column) for column in zip(*results, strict=True))
                line = f"{name:<15} {label:<16} req/s {joined(rps, '.0f')}  app {joined(app_ms, '.2f')}"
                if args.db == "postgresql":
                    line += f"  database {joined(db_ms, '.2f')}"
                print(line, flush=True)
    finally:
        for server in servers.values():
            server.stop()


if __name__ == "__main__":
    main()
