"""The AIS downloader's JSON, both directions. The only module that knows the wire field names.

Rule 1: a request is validated completely here, into a ``JobSpec``, before any job exists; every rejection is a
``BadRequest`` carrying AIS's exact message (reference §1.2, §1.8), so a client comparing strings sees no
difference. Rule 2: responses are rendered from plain values (``JobView``), never from live objects, so the
shapes can be tested with tables. Pure: no I/O, no clock (times are passed in as nanoseconds since the epoch).
"""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from .errors import BadRequest
from .names import go_path_base, normalize_obj_name, object_name_from_link, prepend_protocol
from .store.meta import PROVIDER_ALIASES, Bck, validate_bucket_name
from .template import parse_bash_template

KINDS = ("single", "range", "multi", "backend")
ZERO_TIME = "0001-01-01T00:00:00Z"


# ---- job IDs ---------------------------------------------------------------------------------------------------

_SHORTID_ALPHABET = "-5nZJDft6LuzsjGNpPwY7rQa39vehq4i1cV2FROo8yHSlC0BUEdWbIxMmTgKXAk_"


def new_job_id() -> str:
    """``dnl-`` + an AIS shortid: 9 characters, starts with a letter, does not end in ``-`` or ``_`` (§1.3)."""
    sid = "".join(secrets.choice(_SHORTID_ALPHABET) for _ in range(9))
    if not sid[0].isalpha():
        sid = secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") + sid
    if sid[-1] in "-_":
        sid += secrets.choice("abcdefghijklmnopqrstuvwxyz")
    return "dnl-" + sid


def new_xaction_id() -> str:
    sid = "".join(secrets.choice(_SHORTID_ALPHABET.replace("-", "").replace("_", "")) for _ in range(9))
    return sid if sid[0].isalpha() else "X" + sid[1:]


# ---- times -----------------------------------------------------------------------------------------------------

def go_time(ns: int) -> str:
    """Go's ``time.Time`` JSON (RFC 3339 with nanoseconds, trailing zeros trimmed, UTC); 0 → the zero time."""
    if ns <= 0:
        return ZERO_TIME
    secs, frac = divmod(ns, 1_000_000_000)
    base = datetime.fromtimestamp(secs, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if frac:
        base += "." + f"{frac:09d}".rstrip("0")
    return base + "Z"


# ---- the start request -----------------------------------------------------------------------------------------

def _go_type(v: Any) -> str:
    """The Go type name ``%T`` prints for a value decoded from JSON into ``interface{}``."""
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int | float):
        return "float64"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "[]interface {}"
    return "map[string]interface {}"


@dataclass(frozen=True, slots=True, kw_only=True)
class JobSpec:
    """A validated start request. Serialized into the journal (``to_json``) so a restarted daemon can resume it.

    ``headers`` are kept here (resume needs them) but never rendered into status, list or logs.
    """

    kind: str
    bck: Bck
    description: str
    timeout_ns: int = 0  # 0 → the daemon's default
    progress_interval_ns: int = 10_000_000_000
    connections: int = 0
    bytes_per_hour: int = 0
    headers: dict[str, list[str]] = field(default_factory=dict)
    force: bool = False  # re-download even when the stored object is unchanged (no conditional GET)
    # single
    link: str = ""
    object_name: str = ""
    from_remote: bool = False
    # range
    template: str = ""
    subdir: str = ""
    # backend
    prefix: str = ""
    suffix: str = ""
    synchronize: bool = False

    def to_json(self) -> str:
        d = asdict(self)
        d["bck"] = [self.bck.provider, self.bck.name, self.bck.namespace]
        return json.dumps(d, separators=(",", ":"))

    @classmethod
    def from_json(cls, s: str) -> JobSpec:
        d = json.loads(s)
        d["bck"] = Bck(*d["bck"])
        return cls(**d)

    def header_lines(self) -> list[str]:
        return [f"{k}: {v}" for k, vs in self.headers.items() for v in vs]


@dataclass(frozen=True, slots=True)
class StartRequest:
    """A parsed start request: the spec, and for multi jobs the (name, link) items in order."""

    spec: JobSpec
    items: list[tuple[str, str]] | None = None


def _loads(raw: bytes) -> Any:
    """JSON from a request body; every way it can be malformed is a 400, never a 500."""
    try:
        return json.loads(raw)
    except RecursionError:
        raise BadRequest("failed to unmarshal request body: JSON nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise BadRequest(f"failed to unmarshal request body: {e}") from e


def _parse_duration_field(v: Any, what: str) -> int:
    from .duration import parse_go_duration as parse_duration

    if v in (None, ""):
        return 0
    if not isinstance(v, str):
        raise BadRequest(f"failed to parse {what} field: expected a duration string, got {_go_type(v)}")
    return parse_duration(v)


def _nonneg_int(limits: dict[str, Any], key: str) -> int:
    v = limits.get(key, 0)
    if v is None:
        return 0
    if (isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v != int(v)
            or abs(v) > 2**63 - 1):
        raise BadRequest(f"failed to unmarshal: 'limits.{key}' must be an integer (got: {json.dumps(v)})")
    if v < 0:
        name = "limit.connections" if key == "connections" else "limit.bytes_per_hour"
        raise BadRequest(f"'{name}' must be non-negative (got: {int(v)})")
    return int(v)


def _bucket(body: dict[str, Any]) -> Bck:
    b = body.get("bucket")
    if b is None:
        b = {}
    if not isinstance(b, dict):
        raise BadRequest("failed to unmarshal: 'bucket' must be an object {\"name\": ..., \"provider\": ...}")
    name = b.get("name") or ""
    if not isinstance(name, str) or not name:
        raise BadRequest("missing 'bucket.name'")
    validate_bucket_name(name)
    provider = b.get("provider") or ""
    if not isinstance(provider, str) or provider not in PROVIDER_ALIASES:
        raise BadRequest(f'invalid bucket provider "{provider}" (expecting one of: ais, aws, gcp, azure, oci)')
    ns = b.get("namespace") or {}
    if not isinstance(ns, dict) or not isinstance(ns.get("name", ""), str):
        raise BadRequest("failed to unmarshal: 'bucket.namespace' must be an object {\"uuid\": ..., \"name\": ...}")
    return Bck(PROVIDER_ALIASES[provider], name, ns.get("name", "") or "")


def _headers(v: Any) -> dict[str, list[str]]:
    if v in (None, {}):
        return {}
    if not isinstance(v, dict):
        raise BadRequest("failed to unmarshal: 'headers' must be an object {\"Header\": [\"value\", ...]}")
    out: dict[str, list[str]] = {}
    for k, vals in v.items():
        if isinstance(vals, str):
            vals = [vals]
        if not isinstance(vals, list) or not all(isinstance(x, str) for x in vals):
            raise BadRequest(f"failed to unmarshal: header {k!r} must be a string or a list of strings")
        if "\n" in k or "\r" in k or ":" in k or any("\n" in x or "\r" in x for x in vals):
            raise BadRequest(f"invalid header {k!r}: names may not contain ':' and values may not contain newlines")
        out[k] = vals
    return out


def parse_start(raw: bytes) -> StartRequest:
    """Validate a ``POST /v1/download`` body.

    Raises:
        BadRequest: with AIS's message for the first problem found.
    """
    body = _loads(raw) if raw.strip() else None
    if not isinstance(body, dict):
        raise BadRequest(f"failed to unmarshal request body: expected a JSON object, got {_go_type(body)}")
    kind = body.get("type") or ""
    if not kind:
        raise BadRequest("'type' field is empty")
    if kind not in KINDS:
        raise BadRequest("input does not match any of the supported formats (single, range, multi, backend)")
    bck = _bucket(body)
    desc = body.get("description") or ""
    if not isinstance(desc, str):
        raise BadRequest("failed to unmarshal: 'description' must be a string")
    try:
        timeout_ns = _parse_duration_field(body.get("timeout"), "timeout")
    except BadRequest as e:
        msg = e.message if e.message.startswith("failed to parse") else f"failed to parse timeout field: {e.message}"
        raise BadRequest(msg) from None
    try:
        pi = _parse_duration_field(body.get("progress_interval"), "progress_interval")
    except BadRequest:
        raise BadRequest("invalid progress interval") from None
    limits = body.get("limits")
    if limits is None:
        limits = {}
    if not isinstance(limits, dict):
        raise BadRequest("failed to unmarshal: 'limits' must be an object {\"connections\": N, \"bytes_per_hour\": M}")
    common = {
        "bck": bck,
        "timeout_ns": timeout_ns,
        "progress_interval_ns": pi or 10_000_000_000,
        "connections": _nonneg_int(limits, "connections"),
        "bytes_per_hour": _nonneg_int(limits, "bytes_per_hour"),
        "headers": _headers(body.get("headers")),
        "force": _bool_field(body, "force"),
    }
    if kind == "single":
        return StartRequest(_single(body, desc, common))
    if kind == "range":
        return StartRequest(_range(body, desc, common))
    if kind == "multi":
        items = _multi_items(body.get("objects"))
        return StartRequest(JobSpec(kind="multi", description=desc or f"multi-download -> {bck.cname}", **common),
                            items)
    # backend
    if bck.provider == "ais":
        raise BadRequest("bucket download requires a remote bucket")
    raise BadRequest(f"'backend' download jobs need a cloud backend plugin for provider \"{bck.provider}\", and "
                     "none is installed: dld cannot list that bucket. Download individual objects with "
                     "'single', 'multi' or 'range' jobs over their HTTP(S) links instead.")


def _bool_field(body: dict[str, Any], key: str) -> bool:
    v = body.get(key, False)
    if v is None:
        return False
    if not isinstance(v, bool):
        raise BadRequest(f"failed to unmarshal: '{key}' must be true or false, got {_go_type(v)}")
    return v


_SCHEMES = ("http://", "https://")


def _check_link(link: str) -> str:
    """The link with AIS's default scheme; any scheme but http(s) is refused now rather than failing later."""
    full = prepend_protocol(link)
    if not full.lower().startswith(_SCHEMES):
        raise BadRequest(f'unsupported link "{link}": dld downloads http:// and https:// links only')
    return full


def _str_field(body: dict[str, Any], key: str) -> str:
    v = body.get(key) or ""
    if not isinstance(v, str):
        raise BadRequest(f"failed to unmarshal: '{key}' must be a string, got {_go_type(v)}")
    return v


def _single(body: dict[str, Any], desc: str, common: dict[str, Any]) -> JobSpec:
    link = _str_field(body, "link")
    name = _str_field(body, "object_name")
    from_remote = _bool_field(body, "from_remote")
    if not name:
        base = go_path_base(link)
        if base in (".", "/"):
            raise BadRequest("can not extract a valid 'object_name' from the provided download 'link'")
        name = base
    if not link and not from_remote:
        raise BadRequest("missing 'link' in the request body")
    if from_remote:
        raise BadRequest("'from_remote' single jobs need a cloud backend plugin, and none is installed")
    name = normalize_obj_name(name)
    bck = common["bck"]
    return JobSpec(kind="single", description=desc or f"{link} -> {bck.cname}/{name}", link=_check_link(link),
                   object_name=name, **common)


def _range(body: dict[str, Any], desc: str, common: dict[str, Any]) -> JobSpec:
    template = _str_field(body, "template")
    if not template:
        raise BadRequest("missing 'template' in the request body")
    subdir = _str_field(body, "subdir")
    pt = parse_bash_template(template)
    pt.check_count()
    # Names differ only in the digits a range produces, and digits cannot make a name invalid (they cannot form
    # "/", ".", "?", "#", ":" or a non-hex escape), so checking the first and the last name checks them all.
    n = pt.count()
    for i in {0, n - 1}:
        object_name_from_link(pt.name_at(i), subdir)
    _check_link(pt.name_at(0))  # the scheme is before the first brace: the same for every link
    bck = common["bck"]
    return JobSpec(kind="range", description=desc or f"{template} -> {bck.cname}", template=template, subdir=subdir,
                   **common)


def _multi_items(objects: Any) -> list[tuple[str, str]]:
    """The (name, link) pairs of a multi job, duplicate names collapsed (last wins), in first-seen order."""
    if objects is None:
        raise BadRequest("body should not be empty")
    out: dict[str, str] = {}
    if isinstance(objects, list):
        for link in objects:
            if not isinstance(link, str):
                raise BadRequest(f"expected download link to be a string, got: {_go_type(link)}")
            base = go_path_base(link)
            if base in (".", "/"):
                raise BadRequest(f'failed to extract object name from the download "{link}"')
            out[normalize_obj_name(base)] = _check_link(link)
    elif isinstance(objects, dict):
        for name, link in objects.items():
            if not isinstance(link, str):
                raise BadRequest(f"values in map should be strings, found: {_go_type(link)}")
            out[normalize_obj_name(name)] = _check_link(link)
    else:
        raise BadRequest(f"JSON body should be map (string -> string) or array of strings, found: {_go_type(objects)}")
    if not out:
        raise BadRequest("body should not be empty")
    return list(out.items())


# ---- admin requests --------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class AdminRequest:
    id: str = ""
    regex: str = ""
    only_active_tasks: bool = False


def parse_admin(raw: bytes, query: dict[str, list[str]]) -> AdminRequest:
    """The body of GET/DELETE ``/v1/download``: ``{"id", "regex", "only_active_tasks"}``.

    dld also accepts no body at all and ``?id=`` / ``?regex=`` / ``?only_active_tasks=`` query parameters (AIS
    answers an empty body with 400; the curl examples of the AIS docs send none).
    """
    body: Any = {}
    if raw.strip():
        body = _loads(raw)
        if not isinstance(body, dict):
            raise BadRequest(f"failed to unmarshal request body: expected a JSON object, got {_go_type(body)}")

    def pick(key: str) -> Any:
        if key in query and query[key]:
            return query[key][0]
        return body.get(key)

    job_id = pick("id") or ""
    regex = pick("regex") or ""
    oat = pick("only_active_tasks")
    if isinstance(oat, str):
        oat = oat.lower() in ("1", "true", "yes")
    if not isinstance(job_id, str) or not isinstance(regex, str):
        raise BadRequest("failed to unmarshal: 'id' and 'regex' must be strings")
    if job_id and regex:
        raise BadRequest(f'regex "{regex}" and job ID "{job_id}" cannot be defined together '
                         "(choose one or the other)")
    return AdminRequest(job_id, regex, bool(oat))


# ---- responses -------------------------------------------------------------------------------------------------

@dataclass(slots=True, kw_only=True)
class JobView:
    """A job's header as status and list show it (§1.5, §1.6)."""

    id: str
    xaction_id: str
    description: str
    started_ns: int
    finished_ns: int
    finished_cnt: int
    scheduled_cnt: int
    skipped_cnt: int
    error_cnt: int
    total: int
    all_dispatched: bool
    aborted: bool

    def header(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "xaction_id": self.xaction_id,
            "description": self.description,
            "started_time": go_time(self.started_ns),
            "finished_time": go_time(self.finished_ns),
            "finished_cnt": self.finished_cnt,
            "scheduled_cnt": self.scheduled_cnt,
            "skipped_cnt": self.skipped_cnt,
            "error_cnt": self.error_cnt,
            "total": self.total,
            "all_dispatched": self.all_dispatched,
            "aborted": self.aborted,
        }


def task_info(name: str, downloaded: int, total: int, start_ns: int, end_ns: int) -> dict[str, Any]:
    """One entry of ``current_tasks``/``finished_tasks``: sizes as JSON strings, ``total`` omitted when 0."""
    d: dict[str, Any] = {"name": name, "downloaded": str(downloaded)}
    if total:
        d["total"] = str(total)
    d["start_time"] = go_time(start_ns)
    d["end_time"] = go_time(end_ns)
    return d


def render_status(view: JobView, current: list[dict[str, Any]], finished: Iterator[dict[str, Any]] | None,
                  errors: Iterator[dict[str, str]] | None) -> Iterator[bytes]:
    """The status JSON in pieces, so a job with millions of finished tasks streams without being built whole.

    ``finished``/``errors`` None means "omit the field" (``only_active_tasks``); an empty iterator also omits it,
    as Go's ``omitempty`` does.
    """
    head = view.header()
    head["current_tasks"] = current
    text = json.dumps(head, separators=(",", ":"))
    yield text[:-1].encode()
    for key, rows in (("finished_tasks", finished), ("download_errors", errors)):
        if rows is None:
            continue
        first = True
        buf: list[str] = []
        for row in rows:
            buf.append((f',"{key}":[' if first else ",") + json.dumps(row, separators=(",", ":")))
            first = False
            if len(buf) >= 1000:
                yield "".join(buf).encode()
                buf.clear()
        if not first:
            buf.append("]")
        if buf:
            yield "".join(buf).encode()
    yield b"}"


def job_string(view: JobView) -> str:
    """AIS ``Job.String()``, used by the CLI."""
    if view.aborted:
        state = "aborted"
    elif view.finished_ns:
        state = "finished"
    else:
        pending = (view.total if view.total > 0 else view.scheduled_cnt) - view.finished_cnt - view.error_cnt
        state = f"{pending} file(s) still being downloaded"
    return f"{view.id} ({view.description}): {state}"
