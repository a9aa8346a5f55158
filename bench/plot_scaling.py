#!/usr/bin/env python3
"""Plots the numbers `bench/compare.py --plot` measured: ns/op against N, one panel per workload.

    plot_scaling.py DATA.json OUT.png

Needs matplotlib (pip install matplotlib, or Debian's python3-matplotlib); compare.py runs it
with an interpreter that has it.
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PANELS = [
    ("timers_fire_ordered", ["timers_fire_ordered"]),
    ("call_soon_batch", ["call_soon_batch"]),
    ("spawn + gather (N tasks alive at once)", ["task_spawn_gather", "task_spawn_gather_step"]),
]
STYLE = {  # contender: (label, colour, marker)
    "coio": ("coio", "tab:blue", "o"),
    "floor": ("raw-libev floor", "black", "s"),
    "uvloop": ("uvloop", "tab:orange", "^"),
    "tokio": ("tokio current_thread", "tab:red", "D"),
    "go": ("Go GOMAXPROCS=1", "tab:green", "v"),
}


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        data = json.load(f)
    fig, axes = plt.subplots(1, len(PANELS), figsize=(5.2 * len(PANELS), 5.4))
    for ax, (title, ws) in zip(axes, PANELS):
        for key, pts in data["series"].items():
            c, w = key.split(":", 1)
            if w not in ws:
                continue
            xs = [int(n) for n in sorted(pts, key=int) if pts[n] is not None]
            ys = [pts[str(n)] for n in xs]
            if not xs:
                continue
            label, colour, marker = STYLE[c]
            dashed = w.endswith("_step")
            if c == "coio" and w == "task_spawn_gather":
                label = "coio stackful"
            elif c == "coio" and dashed:
                label = "coio step-driven"
            ax.plot(xs, ys, marker=marker, color=colour, label=label,
                    linestyle="--" if dashed else "-", markersize=4)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("N")
        ax.set_ylabel("ns per operation (median of rounds)")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    fig.suptitle(f"ns/op against N — {data.get('machine', '')}; load average "
                 f"{data['load'][0]} → {data['load'][1]}; median of {data['rounds']} paired rounds",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=90)


if __name__ == "__main__":
    main()
