"""Serving benchmark: the local endpoint against a naive server, the HTTP ceiling and the compute ceiling.

Every number comes from this one run, on this machine, over 127.0.0.1:

1. 32 keep-alive clients send single-row predict requests for ``--duration``
   seconds to: a naive server (stdlib ``ThreadingHTTPServer``, one model call
   per request), ours with its defaults (batching on), ours with batching off
   (``max_batch_size=1``), ours with the capture log on, and ours with a no-op
   handler that skips the model (the HTTP ceiling).
2. 8 clients send 64-row requests to ours, against the same model called
   in-process on pre-built 64-row tensors (the compute ceiling).

Each server is a separate process, as deployed. The load comes from ``wrk``
(one thread, C, epoll) when it is on PATH; otherwise from an asyncio raw-socket
HTTP/1.1 client in its own process. Goals: (1) >= 5x the naive server and
>= 50% of the HTTP ceiling; (2) >= 50% of the in-process throughput.

    python benchmarks/serving.py [--duration 10] [--json results.json] [--model-dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

MODEL = "penguins"
PATH = f"/v1/models/{MODEL}:predict"
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO)}

WRK_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[%s]==]
done = function(summary, latency, requests)
  io.write(string.format(
    "RESULT {\\"requests\\":%%d,\\"duration_us\\":%%d,\\"p50_us\\":%%d,\\"p99_us\\":%%d,\\"errors\\":%%d}\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout))
end
"""


# -- load generators -----------------------------------------------------------
def load_wrk(url: str, body: bytes, clients: int, duration: float, work: Path) -> dict[str, Any]:
    script = work / "post.lua"
    script.write_text(WRK_LUA % body.decode())
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{clients}",
            f"-d{max(1, round(duration))}s",
            "--timeout",
            "30s",
            "-s",
            str(script),
            url + PATH,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    r = json.loads(line[len("RESULT ") :])
    return {
        "requests": r["requests"],
        "seconds": r["duration_us"] / 1e6,
        "p50_ms": r["p50_us"] / 1000,
        "p99_ms": r["p99_us"] / 1000,
        "errors": r["errors"],
    }


async def _client(
    host: str, port: int, request: bytes, until: float, lat: list[float], errors: list[int]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < until:
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            if not head.startswith(b"HTTP/1.1 200"):
                errors[0] += 1
            lat.append(time.perf_counter() - start)
    finally:
        writer.close()


def loadgen_main(url: str, body_file: str, clients: int, duration: float) -> None:
    """``--loadgen`` mode (runs in its own process): asyncio keep-alive clients; prints one JSON line."""
    host, port = url.removeprefix("http://").split(":")
    body = Path(body_file).read_bytes()
    request = (
        f"POST {PATH} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    lat: list[float] = []
    errors = [0]

    async def run() -> float:
        start = time.perf_counter()
        until = start + duration
        await asyncio.gather(*(_client(host, int(port), request, until, lat, errors) for _ in range(clients)))
        return time.perf_counter() - start

    seconds = asyncio.run(run())
    lat.sort()
    print(
        json.dumps(
            {
                "requests": len(lat),
                "seconds": seconds,
                "p50_ms": lat[len(lat) // 2] * 1000,
                "p99_ms": lat[int(len(lat) * 0.99)] * 1000,
                "errors": errors[0],
            }
        )
    )


def load_python(url: str, body: bytes, clients: int, duration: float, work: Path) -> dict[str, Any]:
    body_file = work / "body.json"
    body_file.write_bytes(body)
    out = subprocess.run(
        [sys.executable, __file__, "--loadgen", url, str(body_file), str(clients), str(duration)],
        capture_output=True,
        text=True,
        check=True,
        env=ENV,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


# -- servers -------------------------------------------------------------------
def naive_main(model_dir: str, ready_file: str) -> None:
    """``--naive-server`` mode: what a user writes first - stdlib threads, one model call per request."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import numpy as np
    import tensorflow as tf

    fn = tf.saved_model.load(model_dir).signatures["serving_default"]
    specs = fn.structured_input_signature[1]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, so the comparison is about the model calls

        def do_POST(self) -> None:
            data = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            rows = data["instances"]
            feed = {
                k: tf.constant(
                    np.array(
                        [[r[k]] for r in rows],
                        dtype=object if v.dtype == tf.string else v.dtype.as_numpy_dtype,
                    )
                )
                for k, v in specs.items()
            }
            (out,) = fn(**feed).values()
            body = json.dumps({"predictions": out.numpy().tolist()}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    tmp = Path(ready_file + ".tmp")
    tmp.write_text(json.dumps({"url": f"http://127.0.0.1:{httpd.server_address[1]}"}))
    os.replace(tmp, ready_file)
    httpd.serve_forever()


def inprocess_main(model_dir: str, rows: int, duration: float) -> None:
    """``--inprocess`` mode: the compute ceiling - the signature on pre-built tensors, best thread setting."""
    import numpy as np
    import tensorflow as tf

    threads = int(os.environ.get("BENCH_TF_THREADS", "0"))
    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    from tests.helpers.models import synthetic_rows

    fn = tf.saved_model.load(model_dir).signatures["serving_default"]
    data = synthetic_rows(rows, seed=5)
    feed = {
        k: tf.constant(
            np.array([[r[k]] for r in data], dtype=object if v.dtype == tf.string else v.dtype.as_numpy_dtype)
        )
        for k, v in fn.structured_input_signature[1].items()
    }
    for _ in range(50):
        fn(**feed)
    lat = []
    start = time.perf_counter()
    until = start + duration
    while time.perf_counter() < until:
        t = time.perf_counter()
        fn(**feed)
        lat.append(time.perf_counter() - t)
    seconds = time.perf_counter() - start
    lat.sort()
    print(
        json.dumps(
            {
                "requests": len(lat),
                "seconds": seconds,
                "p50_ms": lat[len(lat) // 2] * 1000,
                "p99_ms": lat[int(len(lat) * 0.99)] * 1000,
                "errors": 0,
            }
        )
    )


class Server:
    """A server process started from a config; ``url`` once ready; ``close()`` stops it (SIGTERM)."""

    def __init__(
        self, work: Path, label: str, model_dir: Path, *, naive: bool = False, replicas: int = 1, **options: Any
    ) -> None:
        self.extra: list[Server] = []
        if replicas > 1:
            # Replicas: processes sharing one port with SO_REUSEPORT, as the local backend deploys them.
            options = {**options, "reuse_port": True}
        label = "".join(c if c.isalnum() else "-" for c in label)
        self.ready = work / f"{label}.ready.json"
        self.ready.unlink(missing_ok=True)
        if naive:
            cmd = [sys.executable, __file__, "--naive-server", str(model_dir), str(self.ready)]
        else:
            cfg = {
                "name": label,
                "model_name": MODEL,
                "model_dir": str(model_dir),
                "host": "127.0.0.1",
                "port": 0,
                "ready_file": str(self.ready),
                **options,
            }
            (work / f"{label}.json").write_text(json.dumps(cfg))
            cmd = [
                sys.executable,
                "-m",
                "unifiedml.providers.local.server",
                "--config",
                str(work / f"{label}.json"),
                "--log-level",
                "WARNING",
            ]
        self.proc = subprocess.Popen(
            cmd, env=ENV, cwd=str(REPO), stdout=subprocess.DEVNULL, stderr=(work / f"{label}.log").open("w")
        )
        deadline = time.monotonic() + 120
        while not self.ready.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{label} did not start; see {work / f'{label}.log'}")
            time.sleep(0.05)
        info = json.loads(self.ready.read_text())
        if "error" in info:
            raise RuntimeError(f"{label}: {info['error']}")
        self.url = info["url"]
        for i in range(1, replicas):
            self.extra.append(Server(work, f"{label}-r{i}", model_dir, **{**options, "port": info["port"]}))

    def stats(self) -> dict[str, Any]:
        import urllib.request

        try:
            with urllib.request.urlopen(self.url + "/stats", timeout=5) as resp:
                return json.loads(resp.read())
        except OSError:
            return {}

    def close(self) -> None:
        for other in self.extra:
            other.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# -- the run -------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per scenario (default 10)")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--model-dir", type=Path, help="a SavedModel with the test tabular model's inputs")
    parser.add_argument(
        "--python-load", action="store_true", help="use the asyncio client even if wrk is there"
    )
    args = parser.parse_args()

    from tests.helpers.models import synthetic_rows

    work = Path(tempfile.mkdtemp(prefix="uml-bench-serving-"))
    model_dir = args.model_dir
    if model_dir is None:
        model_dir = work / "model"
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from pathlib import Path; "
                "from tests.helpers.models import build_tabular_model as b; b(Path(sys.argv[1]))",
                str(model_dir),
            ],
            check=True,
            env=ENV,
            cwd=str(REPO),
            stderr=subprocess.DEVNULL,
        )
    use_wrk = shutil.which("wrk") is not None and not args.python_load
    load = load_wrk if use_wrk else load_python
    generator = (
        "wrk -t1 (C, epoll)" if use_wrk else "asyncio raw-socket keep-alive clients (separate process)"
    )
    one_row = json.dumps({"instances": synthetic_rows(1, seed=1)}).encode()
    rows64 = json.dumps({"instances": synthetic_rows(64, seed=2)}).encode()
    results: dict[str, dict[str, Any]] = {}

    def run(label: str, body: bytes, clients: int, rows: int, **server: Any) -> None:
        srv = Server(work, label, model_dir, **server)
        try:
            load(srv.url, body, clients, 1.0, work)  # warm-up
            before = srv.stats()
            r = load(srv.url, body, clients, args.duration, work)
            after = srv.stats()
        finally:
            srv.close()
        r["rows_per_request"] = rows
        r["clients"] = clients
        calls = after.get("model_calls", 0) - before.get("model_calls", 0)
        if calls:
            r["mean_batch_rows"] = round((after["predict_rows"] - before["predict_rows"]) / calls, 1)
        results[label] = r
        print(f"  {label}: {r['requests'] / r['seconds']:.0f} req/s", file=sys.stderr)

    print(f"load generator: {generator}; {args.duration:.0f}s per scenario; work dir {work}", file=sys.stderr)
    run("naive (1 call/request)", one_row, 32, 1, naive=True)
    run("ours: HTTP ceiling (no-op)", one_row, 32, 1, noop=True)
    run("ours", one_row, 32, 1)
    run("ours, batching off", one_row, 32, 1, max_batch_size=1)
    run("ours, capture on", one_row, 32, 1, capture_dir=str(work / "capture"))
    run("ours, 64-row requests", rows64, 8, 64)
    run("ours, 2 processes (replicas=2)", one_row, 32, 1, replicas=2)
    run("ours, 64-row requests, 2 processes (replicas=2)", rows64, 8, 64, replicas=2)
    best: dict[str, Any] | None = None
    for threads in ("1", "0"):
        out = subprocess.run(
            [sys.executable, __file__, "--inprocess", str(model_dir), "64", str(args.duration)],
            capture_output=True,
            text=True,
            check=True,
            cwd=str(REPO),
            env={**ENV, "BENCH_TF_THREADS": threads},
        ).stdout
        r = json.loads(out.strip().splitlines()[-1])
        r.update(rows_per_request=64, clients=1, tf_threads=int(threads))
        if best is None or r["requests"] / r["seconds"] > best["requests"] / best["seconds"]:
            best = r
    assert best is not None
    results["in-process model, 64-row batches (ceiling)"] = best

    for r in results.values():
        r["req_per_s"] = round(r["requests"] / r["seconds"], 1)
        r["rows_per_s"] = round(r["req_per_s"] * r["rows_per_request"], 1)
    ours = results["ours"]["req_per_s"]
    ratios = {
        "ours / naive (goal >= 5)": round(ours / results["naive (1 call/request)"]["req_per_s"], 2),
        "ours / HTTP ceiling (goal >= 0.5)": round(
            ours / results["ours: HTTP ceiling (no-op)"]["req_per_s"], 3
        ),
        "ours capture on / HTTP ceiling": round(
            results["ours, capture on"]["req_per_s"] / results["ours: HTTP ceiling (no-op)"]["req_per_s"], 3
        ),
        "ours batching on / off": round(ours / results["ours, batching off"]["req_per_s"], 2),
        "capture on / off": round(results["ours, capture on"]["req_per_s"] / ours, 3),
        "ours 2 processes / HTTP ceiling": round(
            results["ours, 2 processes (replicas=2)"]["req_per_s"]
            / results["ours: HTTP ceiling (no-op)"]["req_per_s"], 3
        ),
        "64-row, 2 processes: ours / in-process rows/s": round(
            results["ours, 64-row requests, 2 processes (replicas=2)"]["rows_per_s"]
            / results["in-process model, 64-row batches (ceiling)"]["rows_per_s"],
            3,
        ),
        "64-row: ours / in-process rows/s (goal >= 0.5)": round(
            results["ours, 64-row requests"]["rows_per_s"]
            / results["in-process model, 64-row batches (ceiling)"]["rows_per_s"],
            3,
        ),
    }
    print(
        f"\n{'scenario':44} {'clients':>7} {'req/s':>9} {'rows/s':>10} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'batch':>6} {'errors':>6}"
    )
    for label, r in results.items():
        print(
            f"{label:44} {r['clients']:>7} {r['req_per_s']:>9.0f} {r['rows_per_s']:>10.0f} "
            f"{r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r.get('mean_batch_rows', ''):>6} {r['errors']:>6}"
        )
    print()
    for k, v in ratios.items():
        print(f"{k:52} {v}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "generator": generator,
                    "duration_s": args.duration,
                    "cpu_count": os.cpu_count(),
                    "results": results,
                    "ratios": ratios,
                },
                indent=2,
            )
        )
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--loadgen":
        loadgen_main(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--naive-server":
        naive_main(sys.argv[2], sys.argv[3])
    elif len(sys.argv) > 1 and sys.argv[1] == "--inprocess":
        inprocess_main(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    else:
        sys.exit(main())
