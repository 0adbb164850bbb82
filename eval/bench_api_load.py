"""Load benchmark of the ``ask`` API: N concurrent gradio_client clients × M questions each, all must be correct.

    python eval/bench_api_load.py                      # serves the bundled sample itself (a subprocess)
    python eval/bench_api_load.py --url http://127.0.0.1:7860/   # against a running app

Each client asks the questions in its own rotated order, so different questions run at once.
A response counts as correct only with the exact value, unit and at least one citation. Prints
p50/p95/max latency (seconds, measured by the client: queueing included) and the throughput;
exits 1 when any answer is wrong or a request failed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# (question, value, unit) on the bundled sample (曲靖市投资促进局 2023 决算)
QUESTIONS: list[tuple[str, float, str]] = [
    ("how much was spent on reception in 2023", 50.00, "万元"),
    ("2023年公务接待费是多少？", 50.00, "万元"),
    ("“三公”经费决算数是多少？", 60.42, "万元"),
    ("2023年因公出国（境）费是多少？", 7.58, "万元"),
    ("公务用车购置及运行维护费决算数是多少？", 2.84, "万元"),
    ("机关运行经费是多少？", 108.77, "万元"),
    ("2023年基本支出是多少？", 950.55, "万元"),
    ("2023年国内公务接待批次是多少？", 213, "个"),
    ("招商工作经费预算执行率是多少？", 71.72, "%"),
    ("How much were the three public expenses in 2023?", 60.42, "万元"),
]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_sample(index_dir: Path, port: int) -> subprocess.Popen:
    """``python app.py`` on the sample in a subprocess (so clients and server do not share a GIL)."""
    cmd = [sys.executable, str(REPO / "app.py"), "--index", str(index_dir), "--port", str(port)]
    log = open(index_dir.parent / f"{index_dir.name}-app.log", "w")
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    t0 = time.monotonic()
    while time.monotonic() - t0 < 600:
        if proc.poll() is not None:
            raise SystemExit(f"the app exited ({proc.returncode}); see {log.name}")
        try:
            with urllib.request.urlopen(url + "config", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("the app did not start within 600 s")


def run(url: str, clients: int, per_client: int) -> int:
    from gradio_client import Client

    latencies: list[float] = []
    wrong: list[str] = []
    lock = threading.Lock()

    def one_client(k: int) -> None:
        c = Client(url, verbose=False)
        for j in range(per_client):
            q, value, unit = QUESTIONS[(k + j) % len(QUESTIONS)]
            t0 = time.perf_counter()
            try:
                got = c.predict(q, "", api_name="/ask")
                err = None
            except Exception as e:  # a failed request is a wrong answer here
                got, err = {}, f"{type(e).__name__}: {e}"
            dt = time.perf_counter() - t0
            ok = err is None and got.get("value") is not None and abs(got["value"] - value) < 1e-9 and got.get("unit") == unit
            ok = ok and bool(got.get("citations"))
            with lock:
                latencies.append(dt)
                if not ok:
                    wrong.append(
                        f"client {k}: {q!r} → {err or (got.get('value'), got.get('unit'), len(got.get('citations') or []))}"
                    )

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one_client, range(clients)))
    wall = time.perf_counter() - t0
    lat = sorted(latencies)
    p50 = statistics.median(lat)
    p95 = lat[max(0, int(round(0.95 * len(lat))) - 1)]
    print(f"{clients} clients × {per_client} questions = {len(lat)} requests against {url}")
    print(f"correct: {len(lat) - len(wrong)}/{len(lat)}")
    print(f"latency p50 {p50:.3f} s, p95 {p95:.3f} s, max {lat[-1]:.3f} s; wall {wall:.1f} s, {len(lat) / wall:.1f} requests/s")
    for w in wrong[:20]:
        print("  WRONG", w)
    return 1 if wrong else 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", help="a running app (default: serve the bundled sample in a subprocess)")
    p.add_argument("--index", help="index folder for the served app (default: a fresh temp folder)")
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--questions", type=int, default=10, help="questions per client")
    args = p.parse_args()
    if args.url:
        return run(args.url, args.clients, args.questions)
    index = Path(args.index) if args.index else Path(tempfile.mkdtemp(prefix="fiscalqa-bench-"))
    proc = serve_sample(index, free_port() if not os.environ.get("BENCH_PORT") else int(os.environ["BENCH_PORT"]))
    try:
        url = proc.args[proc.args.index("--port") + 1]
        return run(f"http://127.0.0.1:{url}/", args.clients, args.questions)
    finally:
        proc.terminate()
        proc.wait(timeout=20)


if __name__ == "__main__":
    sys.exit(main())
