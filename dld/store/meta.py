"""Bucket identity and the metadata kept with every stored object.

A bucket is ``(provider, namespace, name)`` as in AIS. An object's metadata lives with the object itself (an
extended attribute on its file, as AIS keeps it) so a store copied or inspected by hand stays self-describing;
the journal only points at objects, it never is the sole copy of what an object is.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import BadRequest

PROVIDERS = ("ais", "aws", "gcp", "azure", "oci")
# Accepted spellings of providers, as the AIS CLI and SDK write them.
PROVIDER_ALIASES = {"": "ais", "ais": "ais", "aws": "aws", "s3": "aws", "gcp": "gcp", "gs": "gcp", "azure": "azure",
                    "az": "azure", "oci": "oci", "oc": "oci"}
BUCKET_NAME_RE = re.compile(r"[A-Za-z0-9_.\-]+")
SCHEMES = {"ais": "ais", "aws": "s3", "gcp": "gs", "azure": "az", "oci": "oc"}


def validate_bucket_name(name: str) -> None:
    """Refuse names AIS refuses; they also keep a bucket name a single, safe directory name."""
    if not name or name in (".", "..") or not BUCKET_NAME_RE.fullmatch(name) or len(name.encode()) > 255:
        raise BadRequest(f'bucket name "{name}" is invalid: may only contain letters, numbers, dashes (-), '
                         "underscores (_), and dots (.)")



@dataclass(frozen=True, slots=True, order=True)
class Bck:
    """A bucket: provider (``ais`` for local buckets), namespace name (may be empty) and bucket name."""

    provider: str
    name: str
    namespace: str = ""

    @property
    def cname(self) -> str:
        """The bucket as AIS prints it in descriptions: ``ais://name`` (``ais://@ns#name`` style is not used)."""
        return f"{self.provider}://{self.name}"

    @property
    def uname(self) -> str:
        """A unique string for hashing (HRW) and keys: provider, namespace and name."""
        return f"{self.provider}/@{self.namespace}/{self.name}"

    def to_wire(self) -> dict[str, Any]:
        return {"name": self.name, "provider": self.provider, "namespace": {"uuid": "", "name": self.namespace}}


@dataclass(slots=True, kw_only=True)
class ObjectMeta:
    """What dld knows about a stored object. Field names are the xattr JSON keys.

    ``custom`` holds provider metadata in AIS's naming (``source``, ``version``, ``ETag``, ``md5``, ``crc32c``,
    ``Last-Modified``, ``link``), which change detection compares (AIS ``CheckEq``).
    """

    size: int
    blake3: str = ""            # hex; empty only for objects stored before checksumming existed
    atime_ns: int = 0           # when the object was (re)written; AIS exposes it as ais-atime
    version: int = 1            # bumped each time dld replaces the object, as AIS bumps its own version
    custom: dict[str, str] = field(default_factory=dict)
    job: str = ""               # "<job id>/<item index>" that wrote it: a resumed job recognizes its own work

    def to_bytes(self) -> bytes:
        d = {"atime_ns": self.atime_ns, "blake3": self.blake3, "custom": self.custom, "job": self.job,
             "size": self.size, "version": self.version}
        return json.dumps(d, separators=(",", ":"), sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> ObjectMeta:
        d = json.loads(data)
        return cls(size=int(d["size"]), blake3=d.get("blake3", ""), atime_ns=int(d.get("atime_ns", 0)),
                   version=int(d.get("version", 1)), custom=dict(d.get("custom", {})), job=d.get("job", ""))


@dataclass(frozen=True, slots=True)
class ObjectEntry:
    """One row of a bucket listing."""

    name: str
    meta: ObjectMeta
