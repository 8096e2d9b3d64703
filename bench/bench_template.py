"""Time template expansion: Cython expander vs the pure-Python reference (engine-notes §5 methodology).

Expands ``prefix-{000000..999999}.tar`` (1,000,000 names) through ``ParsedTemplate.expand`` with the daemon's
default batch of 10,000, once per implementation, and reports the median of 5 runs (engine-notes P15: single
runs on this VM vary by up to 2x). Names are consumed and dropped batch by batch, as a job would.

Usage: ``python bench/bench_template.py [--runs N] [--batch N] [--template T]``
(build the extension first: ``python setup.py build_ext --inplace``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from dld import template as tpl  # noqa: E402


def time_expand(fn: tpl.ExpandFn, pt: tpl.ParsedTemplate, batch: int, runs: int) -> tuple[float, int]:
    """Median wall time of ``runs`` full expansions of ``pt`` with ``fn``, and the number of names produced."""
    times = []
    names = 0
    for _ in range(runs):
        names = 0
        t0 = time.perf_counter()
        for chunk in tpl._batches(fn, pt.prefix, pt.ranges, 0, batch, pt.count()):
            names += len(chunk)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), names


def main() -> int:
    """Run the benchmark and print one line per implementation plus the ratio."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--template", default="prefix-{000000..999999}.tar")
    args = ap.parse_args()

    pt = tpl.parse_bash_template(args.template)
    print(f"template {args.template!r}: {pt.count():,} names, batch {args.batch:,}, median of {args.runs}")
    impls = [("python", tpl._expand_py)]
    if tpl._fast_expand is None:
        print("cython: dld._fast.expand is not built (python setup.py build_ext --inplace); skipped")
    else:
        impls.insert(0, ("cython", tpl._expand_cy))
    results = {}
    for name, fn in impls:
        secs, n = time_expand(fn, pt, args.batch, args.runs)
        results[name] = secs
        print(f"{name:7s} {secs * 1e3:8.1f} ms  {n / secs / 1e6:6.2f} M names/s")
    if len(results) == 2:
        print(f"ratio   cython is {results['python'] / results['cython']:.2f}x faster than the Python reference")
    return 0


if __name__ == "__main__":
    sys.exit(main())
