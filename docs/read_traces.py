#!/usr/bin/python3
"""Reads a ppx trace file (docs/trace-files.md) with only the standard library and NumPy.

    header, traces = read_traces(path)   # header: dict; traces: a generator of dicts
    trace["entries"][i]["value"]          # numpy arrays (float64, their shape)

Run as a program, prints the header and, per name, how many traces have it and its mean.
"""
import json
import os
import struct
import sys

import numpy as np

MAGIC = b"ppx-traces 1\n"


def _number(x):
    return float(x)  # JSON numbers, and "inf" / "-inf" / "nan" for non-finite ones


def _records(f, size):
    while True:
        head = f.read(8)
        if not head:
            return
        (n,) = struct.unpack("<Q", head)
        if n > size:
            raise ValueError("record size out of range: damaged file")
        record = json.loads(f.read(n).decode("utf-8"))
        (k,) = struct.unpack("<Q", f.read(8))
        if 8 * k > size:
            raise ValueError("data size out of range: damaged file")
        data = np.frombuffer(f.read(8 * k), dtype="<f8")
        if data.size != k:
            raise ValueError("truncated file")
        yield record, data


def _tensor(spec, data):
    shape = tuple(spec["shape"])
    start = spec["offset"]
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if start + count > data.size:
        raise ValueError("tensor data out of range")
    return data[start:start + count].reshape(shape)


def _trace(record, data):
    for e in record["entries"]:
        if "value" in e:
            e["value"] = _tensor(e["value"], data)
        if "distribution" in e:
            d = e["distribution"]
            d["parameters"] = [_tensor(p, data) for p in d["parameters"]]
        e["log_prob"] = _number(e["log_prob"])
    record["result"] = _tensor(record["result"], data)
    for key in ("log_weight", "log_likelihood", "log_prior"):
        record[key] = _number(record[key])
    return record


def read_traces(path):
    f = open(path, "rb")
    if f.read(len(MAGIC)) != MAGIC:
        raise ValueError(f"{path}: not a ppx trace file (version 1)")
    size = os.fstat(f.fileno()).st_size
    records = _records(f, size)
    header, _ = next(records)

    def traces():
        with f:
            for record, data in records:
                yield _trace(record, data)

    return header, traces()


def main(path):
    header, traces = read_traces(path)
    print(f"model {header.get('model_name')}, engine {header.get('engine')}, seed {header.get('seed')}")
    count, values = 0, {}  # name -> [(log_weight, value)]
    for t in traces:
        count += 1
        for e in t["entries"]:
            if e["kind"] != "observe" and e["name"] and e["value"].size == 1:
                values.setdefault(e["name"], []).append((t["log_weight"], float(e["value"].reshape(-1)[0])))
    print(f"traces {count}")
    for name, pairs in values.items():
        lw, x = np.array(pairs).T
        w = np.exp(lw - lw.max()) if np.isfinite(lw.max()) else np.zeros_like(lw)
        mean = float(np.sum(w * x) / np.sum(w)) if np.sum(w) > 0 else float("nan")
        print(f"{name} present {len(pairs)} mean {mean:.6g}")  # weighted by the traces' weights


if __name__ == "__main__":
    main(sys.argv[1])
