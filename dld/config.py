"""One frozen settings object, built from defaults ← TOML file ← ``DLD_*`` environment ← command-line flags.

Every knob is a field of ``Config`` with its default and a comment saying why that default. The README's
configuration reference is this class; keep them in step.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .errors import BadRequest


def default_data_dir() -> Path:
    """``./var`` when run from a source checkout (``make run``), else the XDG data directory."""
    here = Path.cwd()
    if (here / "pyproject.toml").exists() and (here / "dld").is_dir():
        return here / "var"
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "dld"


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    listen: str = "127.0.0.1:8080"  # loopback by default: the API has no authentication
    data_dir: Path = field(default_factory=default_data_dir)
    mountpaths: tuple[Path, ...] = ()  # empty → one mountpath, <data_dir>/mp0
    ca_file: str = ""  # extra CA bundle for origins signed by a private CA (added to the system store)
    # Pin host names to addresses, as curl --resolve: "host:port:address" entries (e.g. a mirror of a public
    # bucket's host on the local network).
    resolve: tuple[str, ...] = ()
    # AIS runs one transfer per disk; that starves small objects. 16 concurrent transfers per mountpath keep a
    # disk busy on 64 KiB objects (engine-notes §3a) without thrashing it on big ones.
    transfers_per_mountpath: int = 16
    # Per-attempt request timeout when a job does not set one (AIS downloader.timeout default).
    default_timeout_s: float = 3600.0
    # A body that receives nothing for this long is treated as stalled and retried (transfer/curl_trio.py).
    stall_timeout_s: float = 30.0
    connect_timeout_s: float = 30.0
    max_attempts: int = 10  # AIS: 10 attempts
    retry_base_s: float = 0.5  # first backoff; doubles per attempt with full jitter
    retry_max_s: float = 30.0  # cap of one backoff sleep (Retry-After may ask for more and is honoured up to 1 h)
    curl_buffer_size: int = 512 * 1024  # P7: 512 KiB write chunks double big-file throughput
    fsync: bool = False  # fsync each object before publishing it (durable across power loss, slower)
    # blake3 of every object, stored with it (HEAD, verify). Off only to measure what it costs (bench/).
    content_checksum: bool = True
    # Check the source's own checksums (x-goog-hash, S3, Content-MD5, Repr-Digest, Digest) while downloading.
    # Off for an origin known to send wrong ones (and to measure the cost).
    verify_checksums: bool = True
    # Threads hashing big objects past their first MiB, shared by all transfers; 0: one per core but one (min 1).
    hash_threads: int = 0
    gc_after_s: float = 24 * 3600.0  # finished jobs are removed this long after they finish (AIS: 24 h)
    gc_interval_s: float = 600.0
    max_body_bytes: int = 256 * 1024 * 1024  # a multi job's list arrives in one body; bounded
    shutdown_grace_s: float = 10.0  # SIGTERM: how long in-flight transfers get to reach a resumable point
    log_level: str = "info"

    @property
    def effective_mountpaths(self) -> tuple[Path, ...]:
        return self.mountpaths or (self.data_dir / "mp0",)

    @property
    def journal_path(self) -> Path:
        return self.data_dir / "journal.sqlite"

    @property
    def listen_host_port(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]") or "127.0.0.1", int(port)


def _coerce(name: str, value: Any, default: Any) -> Any:
    if name == "mountpaths":
        if isinstance(value, str):
            value = [v for v in value.split(",") if v]
        return tuple(Path(v) for v in value)
    if name == "data_dir":
        return Path(value)
    if name == "resolve":
        if isinstance(value, str):
            value = [v for v in value.split(",") if v]
        return tuple(str(v) for v in value)
    if isinstance(default, bool):
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true", "yes", "on")
        return bool(value)
    if isinstance(default, int):
        return int(value)
    if isinstance(default, float):
        return float(value)
    return str(value)


def load(config_file: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None,
         **overrides: Any) -> Config:
    """Build the settings: defaults, then the TOML file, then ``DLD_<FIELD>`` variables, then ``overrides``.

    ``overrides`` with value None are ignored (unset command-line flags).

    Raises:
        BadRequest: unknown key in the file, or a value of the wrong type.
    """
    env = os.environ if env is None else env
    base = Config()
    values: dict[str, Any] = {}
    known = {f.name: getattr(base, f.name) for f in fields(Config)}
    if config_file:
        with open(config_file, "rb") as fh:
            data = tomllib.load(fh)
        data = data.get("dld", data)
        for k, v in data.items():
            k = k.replace("-", "_")
            if k not in known:
                raise BadRequest(f"{config_file}: unknown setting {k!r} (known: {', '.join(sorted(known))})")
            values[k] = v
    for k in known:
        ev = env.get(f"DLD_{k.upper()}")
        if ev is not None:
            values[k] = ev
    values.update({k: v for k, v in overrides.items() if v is not None and v != ()})
    try:
        coerced = {k: _coerce(k, v, known[k]) for k, v in values.items()}
    except (TypeError, ValueError) as e:
        raise BadRequest(f"invalid setting: {e}") from e
    return replace(base, **coerced)
