"""``/v1/buckets``: create, destroy, HEAD and list buckets, and list the objects of a bucket, as AIS answers them.

Theory of operation
-------------------
The AIS Python SDK, the AIS CLI and plain HTTP clients all talk to this module, so every shape here is AIS's own
wire format (see ``docs/ais-sdk-wire.md`` for the facts and where they come from):

* A bucket is named by the last path segment plus the query parameters ``provider`` (default ``ais``; aliases
  ``s3``, ``gs``, ``az``... accepted) and ``namespace`` (``@uuid#name``; only local namespaces, empty uuid).
* The operation is the JSON body's ``{"action": ..., "value": ...}`` (an AIS ``ActMsg``): ``create-bck`` (POST),
  ``destroy-bck`` (DELETE), ``list`` (GET; POST too, as older AIS clients send it). A GET with no body on a bucket
  lists its objects, so ``curl`` works without composing an action.
* Listing objects is paged. The continuation token is the name of the last entry of the page (AIS does the same
  for ``ais://`` buckets), so a page costs one sorted walk from that name: nothing is cached between pages and a
  client may resume at any time. ``UUID`` is never empty: the SDK's iterator stops only on an empty token *and* a
  non-empty UUID, and would loop over the first page forever otherwise.
* The page is msgpack when the client's ``Accept`` names ``application/msgpack`` (SDK and CLI do, and decode
  nothing else there), JSON otherwise. The two encodings use different keys, exactly as AIS's Go structs do:
  msgpack ``{"UUID","ContinuationToken","Entries","Flags"}`` with entry keys ``n cs a v t m s c f``; JSON
  ``{"uuid","continuation_token","entries","flags"}`` with ``name checksum atime ...`` and ``size`` as a string.

The page builders (``lso_entry``, ``lso_page_msgpack``, ``lso_page_json``...) are pure functions so the wire shapes
are table-tested without a daemon (``tests/unit/test_buckets_wire.py``).
"""

from __future__ import annotations

import itertools
import json
import secrets
import string
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgpack

from ..errors import AlreadyExists, BadRequest, MethodNotAllowed, NotFound
from ..store.meta import BUCKET_NAME_RE, PROVIDER_ALIASES, Bck, ObjectEntry, validate_bucket_name
from .http import Request, Response

PREFIX = "/v1/buckets"
MSGPACK = "application/msgpack"

# Action names (AIS api/apc/actmsg.go).
ACT_CREATE = "create-bck"
ACT_DESTROY = "destroy-bck"
ACT_LIST = "list"

# List-objects flags: bit positions of LsoMsg.flags (AIS api/apc/lsmsg.go, SDK ListObjectFlag).
LS_CACHED = 1 << 0
LS_NAME_ONLY = 1 << 4
LS_NAME_SIZE = 1 << 5
LS_NOT_CACHED = 1 << 9
LS_NO_RECURSION = 1 << 11
LS_DIFF = 1 << 12
LS_NO_DIRS = 1 << 13
LS_NBI = 1 << 15
UNSUPPORTED_FLAGS = {LS_DIFF: "diff", LS_NBI: "bucket inventory (nbi)"}

# LsoEntry.flags bits (AIS api/apc/lsmsg.go): status in the low 5 bits, then these.
ENTRY_IS_CACHED = 1 << 6
ENTRY_IS_DIR = 1 << 8

DEFAULT_PAGE_SIZE = 10000  # apc.DefaultPageSizeAIS; also the most a page ever holds here
PROPS_DEFAULT = ("name", "size", "checksum", "atime")  # apc.GetPropsDefaultAIS
KNOWN_PROPS = {"name", "size", "version", "checksum", "atime", "cached", "status", "copies", "ec", "custom",
               "location", "node", "target_url"}

# Custom metadata keys AIS prints first, in this order, in a listing's "custom" property (cmn.CustomMD2S).
STD_CUSTOM_KEYS = ("source", "ETag", "LastModified", "Last-Modified", "crc32c", "md5", "version")
HIDDEN_CUSTOM_KEYS = {"orig_fntl"}

_UUID_ALPHABET = string.ascii_letters + string.digits
# Greater than every character an object name can hold: "d/" + this sorts after every name under "d/".
_MAX_CHAR = "\U0010ffff"


# ---- bucket identity ---------------------------------------------------------------------------------------------


def parse_provider(value: str | None) -> str:
    """The canonical provider for a ``provider`` query value (absent or empty means ``ais``, as in AIS)."""
    p = (value or "").strip().lower()
    try:
        return PROVIDER_ALIASES[p]
    except KeyError:
        raise BadRequest(f'invalid bucket provider "{value}": must be one of [ais aws gcp azure oci]') from None


def parse_namespace(value: str | None) -> str:
    """The namespace name of a ``namespace`` query value (``@uuid#name``, ``#name``, or empty).

    A non-empty uuid names a remote AIS cluster, which dld does not attach; refusing it beats serving a local bucket
    under a remote cluster's name.
    """
    v = value or ""
    if not v:
        return ""
    uuid, sep, name = v.removeprefix("@").partition("#")
    if not sep:
        uuid, name = v.removeprefix("@"), ""
    if uuid:
        raise BadRequest(f'namespace "{v}": remote AIS clusters are not supported by dld (only local namespaces)')
    if name and not BUCKET_NAME_RE.fullmatch(name):
        raise BadRequest(f'bucket namespace "{name}" is invalid: may only contain letters, numbers, dashes (-), '
                         "underscores (_), and dots (.)")
    return name


def bucket_from_request(req: Request, name: str) -> Bck:
    """The bucket a request names: path segment ``name`` plus the ``provider``/``namespace`` query parameters."""
    validate_bucket_name(name)
    return Bck(parse_provider(req.arg("provider")), name, parse_namespace(req.arg("namespace")))


def bucket_not_found(bck: Bck) -> NotFound:
    """AIS's message: the SDK finds ``ais://name`` in it and raises ``ErrBckNotFound`` (``missing_ok`` keys on it)."""
    return NotFound(f'bucket "{bck.cname}" does not exist')


# ---- action messages ---------------------------------------------------------------------------------------------


def parse_action(req: Request) -> tuple[str, Any]:
    """``(action, value)`` of the JSON body; ``("", None)`` when there is no body."""
    try:
        msg = req.json()
    except ValueError as e:
        raise BadRequest(f"failed to unmarshal JSON action message: {e}") from None
    if msg is None:
        return "", None
    if not isinstance(msg, dict) or not isinstance(msg.get("action", ""), str):
        raise BadRequest('invalid action message: expecting {"action": "...", "value": ...}')
    return msg.get("action", ""), msg.get("value")


@dataclass(slots=True)
class LsoMsg:
    """A list-objects request (AIS ``apc.LsoMsg``), validated."""

    prefix: str = ""
    props: tuple[str, ...] = PROPS_DEFAULT
    page_size: int = DEFAULT_PAGE_SIZE
    uuid: str = ""
    continuation_token: str = ""
    start_after: str = ""
    flags: int = 0
    time_format: str = ""


def _str_field(d: dict[str, Any], key: str) -> str:
    v = d.get(key)
    if v is None:
        return ""
    if not isinstance(v, str):
        raise BadRequest(f'list-objects: "{key}" must be a string')
    return v


def _int_field(d: dict[str, Any], key: str) -> int:
    """An unsigned integer that AIS clients send either as a number or (``flags,string``) as a decimal string."""
    v = d.get(key)
    if v is None or v == "":
        return 0
    if isinstance(v, bool):
        raise BadRequest(f'list-objects: "{key}" must be a non-negative integer')
    if isinstance(v, str):
        if not v.isdigit():
            raise BadRequest(f'list-objects: "{key}" must be a non-negative integer, got "{v}"')
        v = int(v)
    if not isinstance(v, int) or v < 0:
        raise BadRequest(f'list-objects: "{key}" must be a non-negative integer')
    return v


def parse_lso_msg(value: Any) -> LsoMsg:
    """Validate the ``value`` of a ``list`` action. Page size 0 means the default; larger ones are capped."""
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise BadRequest("list-objects: the action value must be a JSON object")
    props_s = _str_field(value, "props")
    props = tuple(p.strip() for p in props_s.split(",") if p.strip()) if props_s else PROPS_DEFAULT
    for p in props:
        if p not in KNOWN_PROPS:
            raise BadRequest(f'list-objects: unknown property "{p}" (expecting one of: {", ".join(sorted(KNOWN_PROPS))})')
    if "name" not in props:
        props = ("name", *props)
    flags = _int_field(value, "flags")
    for bit, what in UNSUPPORTED_FLAGS.items():
        if flags & bit:
            raise BadRequest(f"list-objects: {what} listing is not supported by dld")
    page_size = _int_field(value, "pagesize") or DEFAULT_PAGE_SIZE
    return LsoMsg(
        prefix=_str_field(value, "prefix"),
        props=props,
        page_size=min(page_size, DEFAULT_PAGE_SIZE),
        uuid=_str_field(value, "uuid"),
        continuation_token=_str_field(value, "continuation_token"),
        start_after=_str_field(value, "start_after"),
        flags=flags,
        time_format=_str_field(value, "time_format"),
    )


def lso_msg_from_query(req: Request) -> LsoMsg:
    """A list-objects request spelled as query parameters, for clients that send no body (``curl``)."""
    fields = {k: req.arg(k) for k in ("prefix", "props", "pagesize", "uuid", "continuation_token", "start_after",
                                      "flags", "time_format") if req.arg(k) is not None}
    return parse_lso_msg(fields)


# ---- list-objects page builders ----------------------------------------------------------------------------------

# Go time layouts AIS clients send in LsoMsg.time_format, mapped to how Python writes them (UTC).
_GO_LAYOUTS = {
    "": "%d %b %y %H:%M UTC",                                 # RFC822, the AIS default
    "02 Jan 06 15:04 MST": "%d %b %y %H:%M UTC",              # time.RFC822
    "02 Jan 06 15:04 -0700": "%d %b %y %H:%M +0000",          # time.RFC822Z
    "Mon, 02 Jan 2006 15:04:05 MST": "%a, %d %b %Y %H:%M:%S UTC",   # time.RFC1123
    "Mon, 02 Jan 2006 15:04:05 -0700": "%a, %d %b %Y %H:%M:%S +0000",  # time.RFC1123Z
    "Mon, 17 Dec 2012 02:14:10 GMT": "%a, %d %b %Y %H:%M:%S GMT",  # cos.RFC1123GMT (S3 HEAD)
    "2006-01-02T15:04:05Z07:00": "%Y-%m-%dT%H:%M:%SZ",        # time.RFC3339
    "2006-01-02T15:04:05.000Z": "%Y-%m-%dT%H:%M:%S.{ms}Z",    # cos.ISO8601 (S3 listing)
}


def format_atime(atime_ns: int, time_format: str = "") -> str:
    """An access time as AIS lists it: RFC822 unless the request names another (known) Go layout.

    AIS formats in the node's local zone; dld writes UTC so listings do not depend on the host's TZ. Unknown layouts
    fall back to RFC822 rather than failing the listing.
    """
    if atime_ns <= 0:
        return ""
    layout = _GO_LAYOUTS.get(time_format, _GO_LAYOUTS[""])
    t = time.gmtime(atime_ns // 1_000_000_000)
    return time.strftime(layout, t).replace("{ms}", f"{(atime_ns // 1_000_000) % 1000:03d}")


def custom_md_to_str(md: dict[str, str]) -> str:
    """Custom metadata as AIS shows it in a listing (``cmn.CustomMD2S``): ``[k1:v1 k2:v2]``, standard keys first."""
    parts = [f"{k}:{md[k]}" for k in STD_CUSTOM_KEYS if k in md]
    parts += [f"{k}:{md[k]}" for k in sorted(md) if k not in STD_CUSTOM_KEYS and k not in HIDDEN_CUSTOM_KEYS]
    return "[" + " ".join(parts) + "]"


@dataclass(frozen=True, slots=True)
class LsoItem:
    """One listing row before encoding: an object, or a virtual directory (non-recursive listings)."""

    name: str
    entry: ObjectEntry | None = None  # None for a directory
    location: str = ""


def lso_entry(item: LsoItem, props: tuple[str, ...], flags: int = 0, time_format: str = "") -> dict[str, Any]:
    """One entry in AIS's internal (msgpack) form: short keys, zero values omitted (Go ``omitempty``)."""
    if item.entry is None:
        return {"n": item.name, "f": ENTRY_IS_DIR}
    meta = item.entry.meta
    out: dict[str, Any] = {"n": item.name}
    if flags & LS_NAME_ONLY:
        out["f"] = ENTRY_IS_CACHED
        return out
    want = set(props)
    if flags & LS_NAME_SIZE:
        want = {"name", "size"}
    if "checksum" in want and meta.blake3:
        out["cs"] = meta.blake3
    if "atime" in want and meta.atime_ns > 0:
        out["a"] = format_atime(meta.atime_ns, time_format)
    if "version" in want and meta.version:
        out["v"] = str(meta.version)
    if "location" in want and item.location:
        out["t"] = item.location
    if "custom" in want:
        custom = custom_md_to_str(meta.custom)
        if custom != "[]":
            out["m"] = custom
    if "size" in want and meta.size:
        out["s"] = meta.size
    if "copies" in want:
        out["c"] = 1
    out["f"] = ENTRY_IS_CACHED  # every object dld lists is on its disks ("cached"/"present" in AIS terms)
    return out


_JSON_KEYS = {"n": "name", "cs": "checksum", "a": "atime", "v": "version", "t": "location", "m": "custom-md",
              "s": "size", "c": "copies", "f": "flags"}


def entry_to_json(e: dict[str, Any]) -> dict[str, Any]:
    """The JSON spelling of an entry (Go ``cmn.LsoEnt`` json tags); ``size`` is a decimal string (``size,string``)."""
    out = {_JSON_KEYS[k]: v for k, v in e.items()}
    if "size" in out:
        out["size"] = str(out["size"])
    return out


def lso_page_msgpack(uuid: str, token: str, entries: list[dict[str, Any]]) -> bytes:
    """A page as AIS encodes ``cmn.LsoRes`` in msgpack: Go field names as keys (no ``msg`` tags on that struct)."""
    return msgpack.packb({"UUID": uuid, "ContinuationToken": token, "Entries": entries, "Flags": 0},
                         use_bin_type=True)


def lso_page_json(uuid: str, token: str, entries: list[dict[str, Any]]) -> dict[str, Any]:
    """A page as AIS encodes ``cmn.LsoRes`` in JSON. ``entries`` is ``[]`` rather than Go's ``null`` when empty."""
    return {"uuid": uuid, "continuation_token": token, "entries": [entry_to_json(e) for e in entries], "flags": 0}


def new_lso_uuid() -> str:
    """A list-objects "job" ID: 10 alphanumerics starting with a letter, valid for AIS's ``cos.IsValidUUID``."""
    return secrets.choice(string.ascii_letters) + "".join(secrets.choice(_UUID_ALPHABET) for _ in range(9))


def wants_msgpack(req: Request) -> bool:
    return MSGPACK in (req.header("accept") or "").lower()


# ---- listing -----------------------------------------------------------------------------------------------------


def _dir_of(prefix: str) -> str:
    """The virtual directory a prefix lists in a non-recursive listing: up to and including its last ``/``."""
    i = prefix.rfind("/")
    return prefix[: i + 1]


def collapse_dirs(entries: Iterator[ObjectEntry], prefix: str, restart: Any) -> Iterator[LsoItem]:
    """Non-recursive listing: objects right under the prefix's directory, and one item per subdirectory.

    ``restart(start_after)`` returns a fresh sorted iterator after ``start_after``; it is called after each
    subdirectory so a big subtree is skipped by the store's pruned walk instead of being read entry by entry.
    Names under ``d/`` are contiguous in byte order ('.' < '/' < '0'), so each directory is emitted once.
    """
    base = _dir_of(prefix)
    it = entries
    while True:
        for e in it:
            rest = e.name[len(base):]
            slash = rest.find("/")
            if slash < 0:
                yield LsoItem(e.name, e)
                continue
            d = base + rest[: slash + 1]
            yield LsoItem(d)
            it = restart(d + _MAX_CHAR)
            break
        else:
            return


def list_page(store: Any, bck: Bck, msg: LsoMsg) -> tuple[list[LsoItem], str]:
    """One page of the listing and the continuation token for the next (empty on the last page)."""
    if msg.flags & LS_NOT_CACHED:
        return [], ""  # every object of a dld bucket is "cached"
    start = max(msg.start_after, msg.continuation_token)
    if msg.flags & LS_NO_RECURSION and start.endswith("/"):
        start += _MAX_CHAR  # resuming after a directory entry: skip its subtree

    def restart(after: str) -> Iterator[ObjectEntry]:
        return iter(store.iter_objects(bck, msg.prefix, after))

    items: Iterator[LsoItem]
    if msg.flags & LS_NO_RECURSION:
        items = collapse_dirs(restart(start), msg.prefix, restart)
    else:
        items = (LsoItem(e.name, e) for e in restart(start))
    page = list(itertools.islice(items, msg.page_size + 1))
    more = len(page) > msg.page_size
    page = page[: msg.page_size]
    if "location" in msg.props:
        page = [LsoItem(i.name, i.entry, _location(store, bck, i)) for i in page]
    return page, (page[-1].name if more and page else "")


def _location(store: Any, bck: Bck, item: LsoItem) -> str:
    """``node:mountpath`` like AIS's ``t`` property (``tnode:mountpath``); best effort, only when asked for."""
    if item.entry is None:
        return ""
    path = store.object_path(bck, item.name)
    for mp in getattr(store, "mountpaths", []):
        if mp.path in path.parents:
            return f"dld:{mp.path}"
    return ""


# ---- handlers ----------------------------------------------------------------------------------------------------


async def handle(req: Request, ctx: Any) -> Response:
    """Every request under ``/v1/buckets``."""
    items = req.path_items(PREFIX)
    if len(items) > 1:
        raise BadRequest(f"invalid URL path {req.path}: expecting {PREFIX}[/<bucket>]")
    store = ctx.store
    if not items:
        if req.method == "GET":
            return _list_buckets(req, store)
        raise MethodNotAllowed(f"{req.method} {PREFIX}: only GET (list buckets) is supported", allow="GET")
    bck = bucket_from_request(req, items[0])
    if req.method == "HEAD":
        return _head_bucket(store, bck)
    if req.method not in ("GET", "POST", "DELETE"):
        raise MethodNotAllowed(f"{req.method} {req.path} is not supported", allow="GET, HEAD, POST, DELETE")
    action, value = parse_action(req)
    if req.method == "GET":
        if action not in ("", ACT_LIST):
            raise BadRequest(f'invalid action "{action}" for GET {req.path} (expecting "{ACT_LIST}")')
        msg = lso_msg_from_query(req) if not action and not req.body.strip() else parse_lso_msg(value)
        return _list_objects(req, store, bck, msg)
    if req.method == "POST":
        if action == ACT_CREATE:
            if not store.create_bucket(bck):
                raise AlreadyExists(f'bucket "{bck.cname}" already exists')
            return Response.empty(200)
        if action == ACT_LIST:  # AIS clients before v3.10 listed objects with POST
            return _list_objects(req, store, bck, parse_lso_msg(value))
        if not action:
            raise BadRequest(f'POST {req.path}: missing action message (e.g. {{"action":"{ACT_CREATE}"}})')
        raise BadRequest(f'invalid action "{action}" for POST {req.path}: dld supports "{ACT_CREATE}" and "{ACT_LIST}"')
    # DELETE
    if not action:
        raise BadRequest(f'DELETE {req.path}: missing action message (e.g. {{"action":"{ACT_DESTROY}"}})')
    if action != ACT_DESTROY:
        raise BadRequest(f'invalid action "{action}" for DELETE {req.path}: dld supports "{ACT_DESTROY}"')
    if not store.bucket_exists(bck):
        raise bucket_not_found(bck)
    store.destroy_bucket(bck)
    return Response.empty(200)


def _list_buckets(req: Request, store: Any) -> Response:
    """``GET /v1/buckets``: a JSON array of ``{"name","provider","namespace":{"uuid","name"}}``; never ``null``."""
    action, _ = parse_action(req)
    if action not in ("", ACT_LIST):
        raise BadRequest(f'invalid action "{action}" for GET {PREFIX} (expecting "{ACT_LIST}")')
    provider = req.arg("provider")
    bcks = store.list_buckets(parse_provider(provider) if provider else None)
    return Response.json([b.to_wire() for b in bcks])


def bucket_props(bck: Bck) -> dict[str, Any]:
    """A minimal ``Ais-Bucket-Props`` value: the AIS CLI unmarshals this header on every bucket HEAD."""
    return {"provider": bck.provider, "versioning": {"enabled": True}, "mirror": {"enabled": False},
            "ec": {"enabled": False}}


def _head_bucket(store: Any, bck: Bck) -> Response:
    if not store.bucket_exists(bck):
        raise bucket_not_found(bck)
    props = json.dumps(bucket_props(bck), separators=(",", ":"))
    return Response(200, [("Ais-Bucket-Props", props)], b"")


def _list_objects(req: Request, store: Any, bck: Bck, msg: LsoMsg) -> Response:
    if not store.bucket_exists(bck):
        raise bucket_not_found(bck)
    page, token = list_page(store, bck, msg)
    entries = [lso_entry(i, msg.props, msg.flags, msg.time_format) for i in page]
    uuid = msg.uuid or new_lso_uuid()
    if wants_msgpack(req):
        return Response(200, [("Content-Type", MSGPACK)], lso_page_msgpack(uuid, token, entries))
    return Response.json(lso_page_json(uuid, token, entries))
