"""Memory of the daemon while it streams a 1,000,000-line manifest and the status of a 1M-object job.

Builds a journal holding one finished job with N outcomes, starts ``dld serve`` on it, streams both documents, and
prints the daemon's RSS before and after (the issue asks that memory stay flat for 1M lines).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import tests.integration.test_manifest as tm  # noqa: E402
from tests.daemon import DaemonProc  # noqa: E402

if __name__ == "__main__":
    tm.N = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    work = Path(tempfile.mkdtemp(dir="/var/tmp"))
    made: list[DaemonProc] = []

    def make(*extra: str, data_dir: Path | None = None, env: dict[str, str] | None = None) -> DaemonProc:
        d = DaemonProc(data_dir or work / "d", *extra, env=env).start()
        made.append(d)
        return d

    orig_stream = tm._stream

    def stream(d, path, body=None):  # noqa: ANN001, ANN202
        before = tm._rss_kb(d.proc.pid)
        out = orig_stream(d, path, body)
        print(f"{path.split('?')[0]:24s} {out[0] / 1e6:8.1f} MB streamed; daemon RSS {before / 1024:.1f} → "
              f"{tm._rss_kb(d.proc.pid) / 1024:.1f} MiB")
        return out

    tm._stream = stream
    try:
        tm.test_manifest_and_status_of_300k_objects_stream_with_flat_memory(work, make)
    finally:
        for d in made:
            d.stop()
