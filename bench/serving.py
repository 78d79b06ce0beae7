#!/usr/bin/env python
"""Serving latency and throughput: ``seqline serve`` vs ``mlflow models serve`` on the same model.

One run does, in this order:

1. trains and exports the example config (``--epochs``, default 1: the architecture, not the
   weights, sets the cost) with ``seqline run`` into a temporary folder, with its own MLflow store;
2. starts ``seqline serve`` on the exported folder (access log on, to a file) and
   ``mlflow models serve -m models:/<name>@champion --env-manager local`` (its default: one uvicorn
   worker) on the same model, both on 127.0.0.1 only, and checks they answer the same numbers;
3. for batch 1 and batch 32 real windows: a 5 s warm-up per server and batch size, then
   ``--rounds`` rounds that alternate the two servers (so both see the same background load), each
   slice ``--clients`` client processes on keep-alive connections sending requests back to back;
   ``--requests`` and ``--seconds`` bound each server and batch size in all.

Prints p50/p99 latency, throughput and the servers' CPU time per request (all processes of each
server, from /proc: the figure least affected by other load) per server and batch size, and the
ratios to the targets: p99 at most 20 ms at batch 1 for seqline, and seqline's throughput at least
2x MLflow's. The exit status is 0 whatever is measured. Clients and servers share the machine's
cores; the load average is printed because other work on the machine shows up in the latencies.

Usage:
    .venv/bin/python bench/serving.py [--config examples/stock_forecast/pipeline.yaml]
                                      [--epochs 1] [--clients 4] [--requests 3000] [--seconds 20]
                                      [--rounds 3] [--keep]
"""
from __future__ import annotations

import argparse
import csv
import http.client
import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
P99_TARGET_MS = 20.0
THROUGHPUT_TARGET = 2.0
BATCHES = (1, 32)
WARM_UP_SECONDS = 5.0


def export_example(config: str, epochs: int, tmp: str) -> dict:
    """Run the pipeline into ``tmp``; return its model name, serving folder, store and windows."""
    with open(config, encoding="utf-8") as fh:
        cfg = yaml.safe_load(fh)
    base = os.path.dirname(os.path.abspath(config))
    cfg["data"]["path"] = os.path.join(base, cfg["data"]["path"])
    cfg["pipeline_root"] = os.path.join(tmp, "pipeline")
    cfg.setdefault("pusher", {})["serving_dir"] = os.path.join(tmp, "serving")
    cfg["training"]["epochs"] = epochs
    cfg.setdefault("evaluation", {})["blessing"] = {"max_ratio_to_best_baseline": None,
                                                    "max_regression_vs_champion": None}
    path = os.path.join(tmp, "pipeline.yaml")
    with open(path, "w", encoding="utf-8") as fh:
        yaml.safe_dump(cfg, fh)
    env = _env(tmp)
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "run", path, "--quiet"], cwd=tmp,
                          env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"bench: the pipeline failed:\n{done.stderr[-3000:]}")
    name = cfg.get("pusher", {}).get("model_name") or cfg["name"]
    lookback, columns = cfg["transform"]["lookback"], cfg["data"]["feature_columns"]
    with open(cfg["data"]["path"], encoding="utf-8") as fh:
        rows = [[float(r[c]) for c in columns] for r in csv.DictReader(fh)]
    values = np.asarray(rows[-(lookback + max(BATCHES)):], np.float32)
    windows = np.stack([values[i:i + lookback] for i in range(max(BATCHES))])
    return {"name": name, "serving": cfg["pusher"]["serving_dir"], "env": env, "windows": windows}


def _env(tmp: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2",
               MLFLOW_TRACKING_URI=f"sqlite:///{os.path.join(tmp, 'mlflow.db')}",
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    return env


def start(cmd: list, env: dict, log: str, ready_path: str, port: int, what: str):
    """Start a server in its own process group; wait (at most 300 s) until ``ready_path`` is 200."""
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=os.path.dirname(log), stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"bench: {what} exited:\n{open(log).read()[-3000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", ready_path)
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            pass
        time.sleep(0.5)
    stop(proc)
    sys.exit(f"bench: {what} did not become ready in 300 s")


def stop(proc) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def post(port: int, path: str, body: bytes) -> tuple:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", path, body, {"Content-Type": "application/json"})
    response = conn.getresponse()
    return response.status, response.read()


def client(job: tuple) -> tuple:
    """One client process: back-to-back requests on one connection; ``(latencies, errors, t0, t1)``."""
    port, path, body, count, deadline = job
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/json"}
    latencies, errors, first = [], 0, time.monotonic()
    while len(latencies) + errors < count and time.monotonic() < deadline:
        t = time.perf_counter()
        try:
            conn.request("POST", path, body, headers)
            response = conn.getresponse()
            response.read()
            ok = response.status == 200
        except (OSError, http.client.HTTPException):
            ok = False
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        if ok:
            latencies.append(time.perf_counter() - t)
        else:
            errors += 1
    return latencies, errors, first, time.monotonic()


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU seconds of every live process in process group ``pgid`` (Linux)."""
    total = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def warm_up(port: int, path: str, body: bytes) -> None:
    """Requests for ``WARM_UP_SECONDS``, not counted (seqline compiles each batch size once)."""
    end = time.monotonic() + WARM_UP_SECONDS
    while time.monotonic() < end:
        post(port, path, body)


def run_slice(pool, proc, port: int, path: str, body: bytes, clients: int, requests: int,
              seconds: float) -> dict:
    """One timed slice: ``clients`` processes, at most ``requests`` in all and ``seconds``."""
    cpu = group_cpu_seconds(proc.pid)
    jobs = [(port, path, body, max(1, requests // clients), time.monotonic() + seconds)] * clients
    results = pool.map(client, jobs)
    return {"latencies": [x for r in results for x in r[0]], "errors": sum(r[1] for r in results),
            "wall": max(r[3] for r in results) - min(r[2] for r in results),
            "cpu": group_cpu_seconds(proc.pid) - cpu}


def summarize(slices: list) -> dict:
    latencies = np.asarray([x for s in slices for x in s["latencies"]]) * 1000
    p50, p99 = np.percentile(latencies, [50, 99]) if len(latencies) else (np.nan, np.nan)
    done = len(latencies)
    return {"requests": done, "errors": sum(s["errors"] for s in slices), "p50": float(p50),
            "p99": float(p99), "rps": done / sum(s["wall"] for s in slices),
            "cpu_ms": 1000 * sum(s["cpu"] for s in slices) / max(done, 1)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=os.path.join(ROOT, "examples", "stock_forecast",
                                                         "pipeline.yaml"))
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--clients", type=int, default=4, help="concurrent client processes")
    parser.add_argument("--requests", type=int, default=3000, help="requests per server and batch")
    parser.add_argument("--seconds", type=float, default=20.0, help="time limit per server and batch")
    parser.add_argument("--rounds", type=int, default=3,
                        help="slices per server and batch, alternating the servers")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    for name in ("epochs", "clients", "requests", "seconds", "rounds"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name} must be > 0")
    tmp = tempfile.mkdtemp(prefix="seqline-serving-bench-")
    procs = []
    try:
        print(f"exporting {args.config} ({args.epochs} epoch(s)) into {tmp} ...", flush=True)
        model = export_example(args.config, args.epochs, tmp)
        name, env = model["name"], model["env"]
        seq_port, mlf_port = free_port(), free_port()
        print("starting seqline serve and mlflow models serve ...", flush=True)
        procs.append(start([sys.executable, "-m", "pipeline.cli", "serve", "--model-base-path",
                            model["serving"], "--port", str(seq_port), "--access-log",
                            os.path.join(tmp, "access.jsonl")],
                           env, os.path.join(tmp, "seqline_serve.log"), "/healthz", seq_port,
                           "seqline serve"))
        procs.append(start([sys.executable, "-m", "mlflow", "models", "serve", "-m",
                            f"models:/{name}@champion", "--env-manager", "local",
                            "--host", "127.0.0.1", "--port", str(mlf_port)],
                           env, os.path.join(tmp, "mlflow_serve.log"), "/ping", mlf_port,
                           "mlflow models serve"))
        servers = {"seqline": (seq_port, f"/v1/models/{name}:predict", "instances"),
                   "mlflow": (mlf_port, "/invocations", "inputs")}
        answers = {}
        for server, (port, path, key) in servers.items():
            status, data = post(port, path, json.dumps({key: model["windows"][:4].tolist()}).encode())
            answers[server] = np.asarray(json.loads(data)["predictions"]) if status == 200 else None
        same = all(a is not None for a in answers.values()) and np.allclose(
            answers["seqline"], answers["mlflow"], rtol=1e-5)
        slices, load_before = {}, os.getloadavg()[0]
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(args.clients) as pool:
            for round_ in range(args.rounds):   # alternate the servers so both see the same load
                for batch in BATCHES:
                    windows = model["windows"][:batch].tolist()
                    for (server, (port, path, key)), proc in zip(servers.items(), procs):
                        body = json.dumps({key: windows}).encode()
                        print(f"  round {round_ + 1}/{args.rounds}: {server:8s} batch {batch:2d}",
                              flush=True)
                        if round_ == 0:
                            warm_up(port, path, body)
                        slices.setdefault((server, batch), []).append(run_slice(
                            pool, proc, port, path, body, args.clients,
                            args.requests // args.rounds, args.seconds / args.rounds))
        rows = {cell: summarize(parts) for cell, parts in slices.items()}
        print(_table(rows, args, same, os.cpu_count(), load_before, os.getloadavg()[0]))
    finally:
        for proc in procs:
            stop(proc)
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


def _table(rows: dict, args, same: bool, cores: int, load_before: float, load_after: float) -> str:
    lines = [f"\nserving benchmark: {args.clients} concurrent clients on 127.0.0.1, up to "
             f"{args.requests} requests / {args.seconds:g} s per cell, {cores} CPU cores, "
             f"load average {load_before:.1f} before and {load_after:.1f} after",
             f"{'server':10s}{'batch':>6s}{'requests':>10s}{'errors':>8s}{'p50 ms':>9s}"
             f"{'p99 ms':>9s}{'req/s':>9s}{'examples/s':>12s}{'server CPU ms/req':>19s}"]
    for (server, batch), r in sorted(rows.items(), key=lambda item: item[0][1]):
        lines.append(f"{server:10s}{batch:6d}{r['requests']:10d}{r['errors']:8d}{r['p50']:9.2f}"
                     f"{r['p99']:9.2f}{r['rps']:9.0f}{r['rps'] * batch:12.0f}{r['cpu_ms']:19.2f}")
    p99 = rows["seqline", 1]["p99"]
    lines.append(f"\nseqline p99 at batch 1: {p99:.2f} ms = {p99 / P99_TARGET_MS:.2f}x the "
                 f"{P99_TARGET_MS:g} ms target: {'PASS' if p99 <= P99_TARGET_MS else 'MISS'}")
    for batch in BATCHES:
        ratio = rows["seqline", batch]["rps"] / rows["mlflow", batch]["rps"]
        cpu = rows["mlflow", batch]["cpu_ms"] / rows["seqline", batch]["cpu_ms"]
        lines.append(f"throughput seqline / mlflow at batch {batch}: {ratio:.2f}x (target >= "
                     f"{THROUGHPUT_TARGET:g}x): {'PASS' if ratio >= THROUGHPUT_TARGET else 'MISS'}; "
                     f"server CPU per request mlflow / seqline: {cpu:.2f}x")
    if not same:
        lines.append("WARNING: the two servers did not answer the same numbers")
    if any(r["errors"] for r in rows.values()):
        lines.append("WARNING: some requests failed (see the errors column)")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
