#!/usr/bin/python3
"""Where an importance sampler's log weights come from: reads a trace file written with
`ppx infer --engine is|ic --save-traces FILE` and splits every trace's log weight into terms,

    log w = sum over observes of log p(y | x)  +  sum over proposed samples of (log p - log q),

grouped by observe name and by sample base address (every instance of an address, as in a
rejection loop, in one group). Per group it prints the mean, the standard deviation across traces
and the term in the heaviest trace minus its median over traces. A group with a large spread is
what makes the weights degenerate (ESS near 1): the likelihood, when the proposal misses the
latents that shape the observation; one address, when its proposal is too wide or misplaced.

    /usr/bin/python3 docs/weight_terms.py FILE [--top N]
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from read_traces import read_traces  # noqa: E402


def base_address(address):
    return address.rsplit("__", 1)[0]  # <base>__<suffix>__<instance> without the instance


def weight_terms(path):
    """(header, group names, [traces x groups] term matrix, log weights)."""
    header, traces = read_traces(path)
    rows, weights, groups = [], [], {}
    for t in traces:
        row = {}
        for e in t["entries"]:
            if e["kind"] == "observe" and e["observed"]:
                key = "observe " + (e["name"] or base_address(e["address"]))
                row[key] = row.get(key, 0.0) + e["log_prob"]
            elif e["kind"] == "sample" and e["observed"]:
                key = "clamped " + (e["name"] or base_address(e["address"]))
                row[key] = row.get(key, 0.0) + e["log_prob"]
            elif e["kind"] == "sample" and "log_proposal" in e:
                key = base_address(e["address"])
                row[key] = row.get(key, 0.0) + e["log_prob"] - float(e["log_proposal"])
        for key in row:
            groups.setdefault(key, len(groups))
        rows.append(row)
        weights.append(t["log_weight"])
    names = sorted(groups, key=groups.get)
    terms = np.array([[row.get(n, 0.0) for n in names] for row in rows]).reshape(len(rows), len(names))
    return header, names, terms, np.array(weights)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file")
    parser.add_argument("--top", type=int, default=15, help="groups shown, largest spread first")
    args = parser.parse_args()
    header, names, terms, lw = weight_terms(args.file)
    if lw.size == 0:
        sys.exit(f"{args.file}: no traces")
    w = np.exp(lw - lw.max())
    ess = w.sum() ** 2 / (w ** 2).sum()
    best = int(np.argmax(lw))
    residual = lw - terms.sum(axis=1)  # terms not attributed to a group (none for ppx's engines)
    print(f"model {header.get('model_name')}, engine {header.get('engine')}: {lw.size} traces, "
          f"ESS {ess:.1f}, log weight sd {lw.std():.1f}, unattributed |max| {np.abs(residual).max():.2g}")
    order = np.argsort(-terms.std(axis=0))[: args.top]
    print(f"{'group':60s} {'mean':>12s} {'sd':>10s} {'best-median':>12s}")
    for i in order:
        col = terms[:, i]
        print(f"{names[i][-60:]:60s} {col.mean():12.2f} {col.std():10.2f} {col[best] - np.median(col):12.2f}")


if __name__ == "__main__":
    main()
