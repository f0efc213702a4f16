#!/usr/bin/env python3
"""ppxd's overhead per job and per trace, against `ppx infer` doing the same work in the same run.

    python3 bench/daemon_overhead.py [--bin build/bin] [--rounds 5]

Rows, measured round-robin (one of each per round, so load bursts hit all alike):
  small: a 200-trace IS query on gum (2 simulators): `ppx infer --out` (starts its simulators,
         writes posterior.json + samples.csv) vs one daemon job (submit, wait on the event stream;
         the pool is already running; writes the same files plus posterior.nc and the job index)
  large: a 200000-trace IS query: traces/s both ways
Reported: medians, and the median of per-round ratios / differences.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request


def http(port, method, path, body=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method=method)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    return urllib.request.urlopen(req, timeout=600)


def daemon_job(port, traces, seed):
    query = {"model": "gum", "traces": traces, "seed": seed, "observations": {"obs0": 8, "obs1": 9}}
    start = time.perf_counter()
    job = json.load(http(port, "POST", "/v1/queries", json.dumps(query).encode()))
    with http(port, "GET", f"/v1/queries/{job['id']}/events") as stream:
        for line in stream:
            if line.startswith(b"event: end"):
                break
    seconds = time.perf_counter() - start
    job = json.load(http(port, "GET", f"/v1/queries/{job['id']}"))
    assert job["state"] == "finished" and job["progress"]["done"] == traces, job
    return seconds


def infer_job(binary, traces, seed, out):
    """The same query with `ppx infer`, writing posterior.json and samples.csv as the daemon does."""
    start = time.perf_counter()
    subprocess.run([f"{binary}/ppx", "infer", "-q", "--simulator", f"{binary}/gum --serve {{endpoint}}",
                    "--workers", "2", "--traces", str(traces), "--seed", str(seed), "--observe", "obs0=8",
                    "--observe", "obs1=9", "--out", out], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=os.path.join(os.path.dirname(__file__), "..", "build", "bin"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--small", type=int, default=200)
    parser.add_argument("--large", type=int, default=200000)
    args = parser.parse_args()
    binary = os.path.abspath(args.bin)
    with tempfile.TemporaryDirectory() as tmp:
        config = os.path.join(tmp, "ppxd.toml")
        with open(config, "w") as f:
            f.write(f'[server]\nlisten = "127.0.0.1:0"\ndata_dir = "{tmp}/data"\n'
                    f'[limits]\nrunning_jobs = 1\n[models.gum]\nsimulator = "{binary}/gum --serve {{endpoint}}"\nworkers = 2\n')
        port_file = os.path.join(tmp, "port")
        daemon = subprocess.Popen([f"{binary}/ppxd", "--config", config, "--port-file", port_file],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(300):
                if os.path.exists(port_file):
                    break
                time.sleep(0.1)
            port = int(open(port_file).read())
            daemon_job(port, args.small, 0)  # warm-up: the pool's simulators start here
            rows = {k: [] for k in ("infer_small", "daemon_small", "infer_large", "daemon_large")}
            for r in range(args.rounds):
                rows["infer_small"].append(infer_job(binary, args.small, r, f"{tmp}/out"))
                rows["daemon_small"].append(daemon_job(port, args.small, r))
                rows["infer_large"].append(infer_job(binary, args.large, r, f"{tmp}/out"))
                rows["daemon_large"].append(daemon_job(port, args.large, r))
        finally:
            daemon.terminate()
            daemon.wait(timeout=30)
    med = {k: statistics.median(v) for k, v in rows.items()}
    per_round = lambda f: statistics.median(f(i) for i in range(args.rounds))
    print(f"{'row':<34} {'median':>12}")
    print(f"{'ppx infer, ' + str(args.small) + ' traces (s/job)':<34} {med['infer_small']:>12.4f}")
    print(f"{'ppxd job, ' + str(args.small) + ' traces (s/job)':<34} {med['daemon_small']:>12.4f}")
    print(f"{'ppx infer, ' + str(args.large) + ' traces (traces/s)':<34} {args.large / med['infer_large']:>12.0f}")
    print(f"{'ppxd job, ' + str(args.large) + ' traces (traces/s)':<34} {args.large / med['daemon_large']:>12.0f}")
    small_ratio = per_round(lambda i: rows["daemon_small"][i] / rows["infer_small"][i])
    # Per trace: the difference of the large jobs net of the small ones (start-up and per-job costs cancel).
    per_trace = per_round(lambda i: ((rows["daemon_large"][i] - rows["daemon_small"][i]) -
                                     (rows["infer_large"][i] - rows["infer_small"][i])) / (args.large - args.small))
    large_ratio = per_round(lambda i: rows["infer_large"][i] / rows["daemon_large"][i])
    print(f"small job: ppxd time / ppx infer time          {small_ratio:.3f}")
    print(f"large job: ppxd traces/s / ppx infer traces/s   {large_ratio:.3f}")
    print(f"ppxd overhead per job vs ppx infer (s)          {per_round(lambda i: rows['daemon_small'][i] - rows['infer_small'][i]):+.4f}")
    print(f"ppxd overhead per trace vs ppx infer (us)       {per_trace * 1e6:+.2f}")


if __name__ == "__main__":
    sys.exit(main())
