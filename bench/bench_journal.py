"""What the journal costs per object: ``record`` + the batched commits, as the daemon does them, for 5,000 objects.

Run alone (``python bench/bench_journal.py``) or from ``bench/run.py``, which sets it against dld's per-object time
on the 5,000 × 64 KiB workload measured in the same run.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dld.jobs.journal import DONE, Journal, Outcome  # noqa: E402

N = 5000


def per_object_us(work: Path) -> float:
    work.mkdir(parents=True, exist_ok=True)
    j = Journal(work / "journal.sqlite")
    row = {"id": "dnl-bench", "seq": 1, "spec": "{}", "description": "bench", "xaction_id": "x", "started_ns": 1,
           "finished_ns": 0, "aborted": 0, "total": N, "all_dispatched": 0, "cursor": 0, "frontier": 0,
           "finished_cnt": 0, "scheduled_cnt": 0, "skipped_cnt": 0, "error_cnt": 0}
    j.insert_job(row)
    counters = {k: row[k] for k in ("finished_ns", "aborted", "total", "all_dispatched", "cursor", "finished_cnt",
                                    "scheduled_cnt", "skipped_cnt", "error_cnt")}
    t0 = time.perf_counter()
    for i in range(N):
        if i % 1000 == 0:
            j.reserve_frontier("dnl-bench", i + 1000)
        counters["finished_cnt"] = counters["cursor"] = i + 1
        j.record(Outcome(job_id="dnl-bench", idx=i, name=f"f{i:05d}.bin", link=f"http://127.0.0.1/small/f{i:05d}.bin",
                         outcome=DONE, size=65536, total=65536, blake3="ab" * 32, etag='"5f0c-10000"',
                         last_modified="Tue, 24 Nov 2026 22:00:00 GMT", start_ns=i, end_ns=i + 1), dict(counters))
    j.flush()
    dt = time.perf_counter() - t0
    j.close()
    return dt / N * 1e6


if __name__ == "__main__":
    runs = [per_object_us(Path(tempfile.mkdtemp()) / f"j{i}") for i in range(5)]
    print(f"journal: median {statistics.median(runs):.1f} µs/object over {N} objects (runs: "
          f"{', '.join(f'{r:.1f}' for r in runs)})")
