#!/usr/bin/env python3
"""Submit a posterior query to ppxd, follow its progress, load its results (standard library only).

    build/bin/tau_decay --generate out/tau-event --seed 16 --obs-mode coarse --noise-scale 6
    python3 examples/submit_query.py --model tau --traces 100000 \
        --observe calorimeter=@out/tau-event/calorimeter.npy --observe met=@out/tau-event/met.npy

The daemon's address and token come from --daemon/--token or PPX_DAEMON/PPX_TOKEN.
"""
import argparse
import json
import os
import sys
import urllib.error
import urllib.request


def call(args, method, path, body=None, content_type="application/json", timeout=30):
    request = urllib.request.Request(args.daemon.rstrip("/") + path, data=body, method=method)
    if body is not None:
        request.add_header("Content-Type", content_type)
    if args.token:
        request.add_header("Authorization", "Bearer " + args.token)
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:  # every error body is {"error": {"code", "message"}}
        message = json.load(e).get("error", {}).get("message", e.reason)
        sys.exit(f"ppxd answered {e.code}: {message}")


def observation(args, spec):
    name, _, value = spec.partition("=")
    if value.startswith("@") and value.endswith(".npy"):
        with open(value[1:], "rb") as f:
            upload = json.load(call(args, "POST", "/v1/observations", f.read(), "application/octet-stream"))
        return name, {"upload": upload["id"]}
    if value.startswith("@"):
        with open(value[1:]) as f:
            return name, json.load(f)
    return name, json.loads(value)


def follow(args, query_id):
    """Reads the Server-Sent Events stream until its final event; returns the final job."""
    job = None
    with call(args, "GET", f"/v1/queries/{query_id}/events", timeout=120) as stream:
        event = None
        for raw in stream:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                job = json.loads(line[6:])
                p = job.get("progress", {})
                print(f"\r{job['state']} {p.get('done', 0)}/{p.get('total', 0)} traces "
                      f"{p.get('traces_per_second', 0):.0f}/s ESS {p.get('ess', 0):.1f}", end="", file=sys.stderr)
                if event == "end":
                    print(file=sys.stderr)
                    return job
    return job


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--daemon", default=os.environ.get("PPX_DAEMON", "http://127.0.0.1:8080"))
    parser.add_argument("--token", default=os.environ.get("PPX_TOKEN", ""))
    parser.add_argument("--model", default="tau")
    parser.add_argument("--engine", default="is")
    parser.add_argument("--traces", type=int, default=100000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--observe", action="append", default=[], help="NAME=VALUE, NAME=@FILE.json, NAME=@FILE.npy")
    args = parser.parse_args()

    query = {"model": args.model, "engine": args.engine, "traces": args.traces, "seed": args.seed,
             "observations": dict(observation(args, spec) for spec in args.observe)}
    job = json.load(call(args, "POST", "/v1/queries", json.dumps(query).encode()))
    print("query", job["id"], file=sys.stderr)
    job = follow(args, job["id"])
    if job is None or job["state"] != "finished":
        sys.exit(f"query ended {job and job['state']}: {job and job.get('error', '')}")
    posterior = json.load(call(args, "GET", f"/v1/queries/{job['id']}/results?format=json"))
    for name, v in posterior["variables"].items():
        line = f"{name:<16} mean {v['mean']:.4g}  sd {v['sd']:.4g}  5% {v['q05']:.4g}  95% {v['q95']:.4g}"
        if v.get("discrete"):
            top = ", ".join(f"{c['value']:g} ({c['probability']:.3f})" for c in v["categories"][:3])
            line += f"  top: {top}"
        print(line)
    for warning in posterior.get("warnings", []):
        print("warning:", warning, file=sys.stderr)


if __name__ == "__main__":
    main()
