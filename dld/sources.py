"""What the CLI makes of ``SOURCE`` and ``DESTINATION`` in ``dld start download SOURCE DESTINATION``.

Theory of operation
-------------------
This is the pure half of the AIS CLI's ``parseDlSource``/``parseURLToSource`` and ``parseDest`` (reference §4.3,
§5.1); the CLI layer decides, from the result, which job type to send. A source is parsed with Go's ``url.Parse``
(``dld.names.go_url_parse``), rewritten per scheme, serialized with Go's ``URL.String`` and finally passed through
``url.QueryUnescape``, exactly as upstream, so the same command line yields the same link:

* ``gs://``/``gcp://`` → ``https://storage.googleapis.com/<bucket>/<path>``, backend ``(gcp, bucket, prefix)``;
* ``s3://``/``aws://`` → ``http://s3.amazonaws.com/<bucket>/<path>`` (plain http, as upstream), backend ``aws``;
* ``az://``/``azure://`` → no link (an Azure URL needs the account name), backend ``azure``;
* ``oc://``/``oci://`` → backend ``oci``; the link keeps its ``oc://`` scheme and is not fetchable over HTTP;
* ``ais://host[:port]/bucket/obj`` → ``http://host:port/v1/objects/bucket/obj`` (port 8080 by default);
* no scheme → ``https://`` (the server side would use ``http://``, see ``dld.names.prepend_protocol``);
* ``http``/``https`` unchanged; any other scheme → ``invalid scheme: <s>``.

The final ``QueryUnescape`` decodes ``%2F`` and also turns ``+`` into a space anywhere in the link; that is
upstream behaviour and is kept so links match the AIS CLI.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dld.errors import BadRequest
from dld.names import GoURL, go_path_join, go_query_unescape, go_quote, go_url_parse, go_url_string

__all__ = ["HF_FULL_REPO_MARKER", "BackendSource", "Source", "parse_destination", "parse_source"]

# The CLI's marker for "download the whole Hugging Face repository"; passed through untouched (§4.3 step 1).
HF_FULL_REPO_MARKER = "HF_FULL_REPO_DOWNLOAD"

_GS_HOST = "storage.googleapis.com"
_S3_HOST = "s3.amazonaws.com"
_AIS_DEFAULT_PORT = ":8080"  # the AIS proxy's default port, which upstream assumes when none is given

# Scheme (or provider alias) → provider, as AIS cmn.NormalizeProvider spells them.
_PROVIDERS = {"ais": "ais", "aws": "aws", "s3": "aws", "gcp": "gcp", "gs": "gcp", "azure": "azure", "az": "azure",
              "oci": "oci", "oc": "oci"}
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# AIS bucketReg: Go's \w is ASCII-only, hence re.ASCII.
_BUCKET_NAME = re.compile(r"[\w\-.]+", re.ASCII)


@dataclass(frozen=True, slots=True, kw_only=True)
class BackendSource:
    """A cloud bucket (and prefix) a source names; what a ``backend`` job would list.

    ``provider`` is ``aws``, ``gcp``, ``azure`` or ``oci``. ``prefix`` is the path after the bucket with one
    leading ``/`` removed (``gs://b/obj.tar`` has prefix ``obj.tar``: a backend job downloads every object with
    that prefix).
    """

    provider: str
    bucket: str
    prefix: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    """A normalized download source: the HTTP(S) link to fetch (empty for Azure) and, for cloud schemes, the bucket."""

    link: str
    backend: BackendSource | None = None


def parse_source(src: str) -> Source:
    """Normalize a CLI ``SOURCE`` as the AIS CLI does (reference §5.1).

    Args:
        src: what the user typed: a URL, a cloud URI (``gs://b/p``), an ``ais://`` URI or a scheme-less link.

    Returns:
        The link to download and, for cloud schemes, the backend bucket and prefix.

    Raises:
        BadRequest: Go's parse error (``parse "<src>": ...``), ``invalid scheme: <s>``, or an unescape error
            (``invalid URL escape "%zz"``) from a malformed query.
    """
    if src.startswith(HF_FULL_REPO_MARKER):
        return Source(link=src)
    u = go_url_parse(src)
    scheme, host, full_path = u.scheme, u.host, u.path
    backend: BackendSource | None = None
    # For bucket schemes url.Parse puts the bucket in Host.
    if scheme in ("gs", "gcp"):
        backend = BackendSource(provider="gcp", bucket=u.host, prefix=full_path.removeprefix("/"))
        scheme, host, full_path = "https", _GS_HOST, go_path_join(u.host, full_path)
    elif scheme in ("s3", "aws"):
        backend = BackendSource(provider="aws", bucket=u.host, prefix=full_path.removeprefix("/"))
        scheme, host, full_path = "http", _S3_HOST, go_path_join(u.host, full_path)
    elif scheme in ("az", "azure"):
        return Source(link="", backend=BackendSource(provider="azure", bucket=u.host,
                                                     prefix=full_path.removeprefix("/")))
    elif scheme in ("oc", "oci"):
        backend = BackendSource(provider="oci", bucket=u.host, prefix=full_path.removeprefix("/"))
    elif scheme == "ais":
        scheme = "http"
        if ":" not in host:
            host += _AIS_DEFAULT_PORT
        full_path = go_path_join("v1", "objects", full_path)
    elif scheme == "":
        scheme = "https"
    elif scheme not in ("http", "https"):
        raise BadRequest(f"invalid scheme: {scheme}")
    normalized = GoURL(scheme=scheme, user=u.user, host=host, path=full_path, raw_query=u.raw_query,
                       fragment=u.fragment)
    link = go_query_unescape(go_url_string(normalized))
    if _SURROGATE.search(link):
        # %-escapes that decode to non-UTF-8 bytes: Go would keep the bytes; dld's links are text (JSON).
        raise BadRequest(f"invalid download link {go_quote(link)}: not valid UTF-8 after unescaping")
    return Source(link=link, backend=backend)


def _validate_bucket_name(name: str) -> None:
    """AIS ``ValidateBckName``."""
    if name == "." or not _BUCKET_NAME.fullmatch(name):
        raise BadRequest(f"bucket name {go_quote(name)} is invalid: "
                         "may only contain letters, numbers, dashes (-), underscores (_), and dots (.)")
    if ".." in name:
        raise BadRequest(f"bucket name {go_quote(name)} cannot contain '..'")


def parse_destination(dst: str) -> tuple[str, str, str]:
    """Split a CLI ``DESTINATION`` ``provider://bucket[/path]`` (AIS ``parseDest``).

    A missing ``provider://`` means ``ais`` (the CLI's default provider). The path has every leading and trailing
    ``/`` removed (``ais://b//dir/`` → ``dir``); for a single job it is the object name, for a range job the
    subdir.

    Args:
        dst: the destination URI.

    Returns:
        ``(provider, bucket, path)`` with ``provider`` one of ``ais``, ``aws``, ``gcp``, ``azure``, ``oci``.

    Raises:
        BadRequest: for an HTTP(S) destination, an unknown provider, a missing or invalid bucket name, or a
            namespaced bucket (``@uuid#ns``), which dld does not support.
    """
    scheme, sep, rest = dst.partition("://")
    if sep and scheme:
        if scheme in ("http", "https"):
            raise BadRequest("http bucket is not supported as destination")
        provider = _PROVIDERS.get(scheme)
        if provider is None:
            raise BadRequest(f"invalid bucket provider {go_quote(scheme)}")
    else:
        provider, rest = "ais", dst
    bucket, _, path = rest.partition("/")
    if bucket == "":
        raise BadRequest(f"{go_quote(dst)}: missing bucket name")
    if bucket[0] in "@#":
        raise BadRequest(f"{go_quote(dst)}: bucket namespaces (@uuid#namespace) are not supported")
    _validate_bucket_name(bucket)
    return provider, bucket, path.strip("/")
