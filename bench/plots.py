#!/usr/bin/python3
"""Figures of bench/README.md, drawn from the raw results of the drivers:

  bench/results/p1_sweep.csv  (bench/p1_sweep.sh)
      -> bench/plots/p1_ingest_vs_connections.png: req/s and p50/p99
         latency of ingest and of the hello-world server per connection
         count (median over runs, bars from min to max)
  bench/results/p6_e2e-*.json (bench/p6_e2e.py --save LABEL; one file
                               per session, e.g. a quiet and a loaded one)
      -> bench/plots/p6_e2e_latency.png: histogram per session and CDF per
         run of the HTTP-accept -> provider-received latency, targets
         marked

usage: bench/plots.py [--results DIR] [--out DIR]

A missing input skips its figure. Needs python3-matplotlib (Debian; see
bench/packages.txt and bench/install-deps.sh).
"""

import argparse
import csv
import json
import pathlib
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

BENCH = pathlib.Path(__file__).resolve().parent


def p1_sweep(src, dst):
    rows = list(csv.DictReader(open(src)))
    if not rows:
        return None
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for server, colour in (("hello", "tab:gray"), ("ingest", "tab:blue")):
        by_c = {}
        for r in rows:
            if r["server"] == server:
                by_c.setdefault(int(r["connections"]), []).append(r)
        cs = sorted(by_c)
        if not cs:
            continue

        def series(key):
            vals = [[float(r[key]) for r in by_c[c]] for c in cs]
            med = [statistics.median(v) for v in vals]
            err = [[m - min(v) for m, v in zip(med, vals)],
                   [max(v) - m for m, v in zip(med, vals)]]
            return med, err

        med, err = series("req_per_s")
        ax1.errorbar(cs, med, yerr=err, marker="o", capsize=3, color=colour,
                     label=server)
        for key, style, mark in (("p50_ms", "-", "o"), ("p99_ms", "--", "s")):
            med, err = series(key)
            ax2.errorbar(cs, med, yerr=err, marker=mark, capsize=3,
                         color=colour, linestyle=style,
                         label=f"{server} {key[:3]}")
    runs = len({r["run"] for r in rows})
    ax1.set(xscale="log", xlabel="connections (wrk, keep-alive)",
            ylabel="requests/s", title="throughput")
    ax1.set_ylim(bottom=0)
    ax2.set(xscale="log", yscale="log", xlabel="connections",
            ylabel="latency (ms)", title="latency")
    ax2.axhline(25, color="tab:red", linewidth=0.8)
    ax2.text(0.01, 25, "P2 target: p99 25 ms (at 200)", color="tab:red",
             va="bottom", fontsize=8, transform=ax2.get_yaxis_transform())
    for ax in (ax1, ax2):
        ax.set_xticks(sorted({int(r["connections"]) for r in rows}))
        ax.get_xaxis().set_major_formatter(
            matplotlib.ticker.ScalarFormatter())
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("P1/P2: ingest + Kafka vs hello-world MHD+jansson "
                 f"(median of {runs} run(s), bars min-max; 2 shared cores)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(dst, dpi=110)
    plt.close(fig)
    return dst


def p6_latency(srcs, dst):
    sessions = [json.load(open(src)) for src in srcs]
    sessions = [d for d in sessions if d["runs"]]
    if not sessions:
        return None
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    colours = ("tab:blue", "tab:orange", "tab:green", "tab:purple")
    lo = min(min(r["latencies_ms"]) for d in sessions for r in d["runs"])
    hi = max(max(r["latencies_ms"]) for d in sessions for r in d["runs"])
    bins = [lo + (hi - lo) * k / 100 for k in range(101)]
    for d, colour in zip(sessions, colours):
        pooled = [x for r in d["runs"] for x in r["latencies_ms"]]
        ax1.hist(pooled, bins=bins, histtype="step", color=colour,
                 label=f"{d.get('label', '?')} ({d.get('date', '')}): "
                 f"{len(pooled)} requests, {len(d['runs'])} runs")
        for i, r in enumerate(d["runs"]):
            xs = sorted(r["latencies_ms"])
            ys = [(k + 1) / len(xs) for k in range(len(xs))]
            ax2.plot(xs, ys, color=colour, alpha=0.5 + 0.5 * i /
                     max(1, len(d["runs"]) - 1), linewidth=1.2,
                     label=f"{d.get('label', '?')} run {i + 1}: p50 "
                     f"{r['p50_ms']:.0f}, p99 {r['p99_ms']:.0f} ms")
    ax1.set(xlabel="HTTP 200 -> provider received (ms)", ylabel="requests",
            title="histogram per session")
    ax1.legend(fontsize=7)
    for ax in (ax1, ax2):
        ax.axvline(150, color="tab:green", linewidth=0.8, linestyle=":")
        ax.axvline(500, color="tab:red", linewidth=0.8, linestyle=":")
        ax.grid(True, alpha=0.3)
    ax2.axhline(0.5, color="tab:green", linewidth=0.5, linestyle=":")
    ax2.axhline(0.99, color="tab:red", linewidth=0.5, linestyle=":")
    ax2.set(xscale="log", xlabel="latency (ms, log)", ylabel="fraction",
            title="CDF per run (P6 targets: p50 150 ms, p99 500 ms)")
    ticks = [t for t in (50, 100, 150, 200, 300, 500, 1000, 2000, 5000,
                         10000) if lo / 1.5 <= t <= hi * 1.5]
    ax2.set_xticks(ticks)
    ax2.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax2.get_xaxis().set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax2.legend(fontsize=7)
    r0 = sessions[0]["runs"][0]
    fig.suptitle(f"P6: end to end at {r0['rate_per_s']:g} req/s, provider "
                 f"answering after {r0['provider_delay_ms']} ms "
                 "(2 shared cores)", fontsize=10)
    fig.tight_layout()
    fig.savefig(dst, dpi=110)
    plt.close(fig)
    return dst


def main():
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n", 1)[1])
    ap.add_argument("--results", default=str(BENCH / "results"))
    ap.add_argument("--out", default=str(BENCH / "plots"))
    args = ap.parse_args()
    res, out = pathlib.Path(args.results), pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    made = 0
    for pattern, fn, png in (
            ("p1_sweep.csv", lambda s, d: p1_sweep(s[0], d),
             "p1_ingest_vs_connections.png"),
            ("p6_e2e-*.json", p6_latency, "p6_e2e_latency.png")):
        srcs = sorted(res.glob(pattern))
        if not srcs:
            print(f"skipped {png}: no {res / pattern}", file=sys.stderr)
            continue
        if fn(srcs, out / png):
            print(out / png)
            made += 1
    return 0 if made else 1


if __name__ == "__main__":
    sys.exit(main())
