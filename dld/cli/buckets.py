"""Bucket and object commands: ``bucket create|ls|rm``, ``ls``, ``get``, ``object rm`` (AIS wire, docs/ais-sdk-wire.md).

Theory of operation
-------------------
A bucket is written ``ais://name`` or plain ``name`` (other providers as ``gs://``, ``s3://``...: the daemon keeps
their local copies); an object is ``BUCKET/NAME``. Everything large is streamed:

* ``ls`` asks for one page at a time (``continuation_token`` + ``uuid``) and prints it before asking for the
  next, so a bucket of millions of objects costs one page of memory. Column widths only grow from page to page.
* ``get`` copies the object in ``CHUNK`` pieces to the file (removed again if the copy fails) or to stdout.

Messages are the AIS CLI's (``"ais://b" created``, ``GET obj from ais://b as "file" (1.00KiB)``...).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import click

from dld.errors import BadRequest
from dld.names import go_quote
from dld.sources import parse_destination
from dld.store.meta import PROVIDER_ALIASES

from .client import CHUNK, Client
from .context import client, done
from .render import ais_cname, format_size

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["bucket_group", "get_object", "list_objects", "object_group", "parse_bucket_uri"]

PAGE_SIZE = 1000  # default entries per list-objects page: one page is what the CLI holds in memory


def parse_bucket_uri(uri: str) -> tuple[str, str, str]:
    """``[provider://]bucket[/rest]`` → ``(provider, bucket, rest)``; ``rest`` is kept verbatim (a prefix may end in /).

    Raises:
        click.ClickException: unknown provider or invalid bucket name (AIS's messages).
    """
    scheme, sep, rest = uri.partition("://")
    if not sep:
        scheme, rest = "ais", uri
    if scheme not in PROVIDER_ALIASES or scheme == "":
        raise click.ClickException(f"invalid bucket provider {go_quote(scheme)}")
    bucket, _, tail = rest.partition("/")
    try:
        provider, bucket, _ = parse_destination(f"{scheme}://{bucket}")
    except BadRequest as e:
        raise click.ClickException(e.message) from None
    return provider, bucket, tail


def _action(action: str, value: Any = None) -> dict[str, Any]:
    return {"action": action, "name": "", "value": value}


# ---- bucket ----------------------------------------------------------------------------------------------------

@click.group("bucket")
def bucket_group() -> None:
    """Create, list and destroy buckets."""


@bucket_group.command("create")
@click.argument("buckets", nargs=-1, required=True, metavar="BUCKET...")
def bucket_create(buckets: tuple[str, ...]) -> None:
    """Create bucket(s)."""
    cl = client()
    for uri in buckets:
        provider, name, _ = parse_bucket_uri(uri)
        cl.request("POST", Client.bucket_path(name), query={"provider": provider}, body=_action("create-bck"))
        done(f"{go_quote(ais_cname(provider, name))} created")


@bucket_group.command("rm")
@click.argument("buckets", nargs=-1, required=True, metavar="BUCKET...")
def bucket_rm(buckets: tuple[str, ...]) -> None:
    """Destroy bucket(s) and every object in them."""
    cl = client()
    for uri in buckets:
        provider, name, _ = parse_bucket_uri(uri)
        cl.request("DELETE", Client.bucket_path(name), query={"provider": provider}, body=_action("destroy-bck"))
        done(f"{go_quote(ais_cname(provider, name))} destroyed")


@bucket_group.command("ls")
@click.option("-j", "--json", "as_json", is_flag=True, help="JSON output (the daemon's list).")
def bucket_ls(as_json: bool) -> None:
    """List buckets."""
    _list_buckets(as_json)


def _list_buckets(as_json: bool) -> None:
    bcks = client().json("GET", "/v1/buckets", query={"provider": ""}) or []
    if as_json:
        done(json.dumps(bcks, indent=4))
        return
    for b in sorted(bcks, key=lambda b: (b.get("provider", ""), b.get("name", ""))):
        done(ais_cname(b.get("provider", "ais"), b.get("name", "")))


# ---- ls --------------------------------------------------------------------------------------------------------

def iter_pages(cl: Client, provider: str, bucket: str, prefix: str,
               page_size: int = PAGE_SIZE) -> Iterator[list[dict[str, Any]]]:
    """The bucket's listing, one page of entries at a time, following continuation tokens."""
    token, uuid = "", ""
    while True:
        value = {"prefix": prefix, "pagesize": page_size, "uuid": uuid, "props": "name,size",
                 "continuation_token": token, "flags": "0"}
        page = cl.json("GET", Client.bucket_path(bucket), query={"provider": provider},
                       body=_action("list", value)) or {}
        yield page.get("entries") or []
        token, uuid = page.get("continuation_token") or "", page.get("uuid") or uuid
        if not token:
            return


@click.command("ls")
@click.argument("uri", required=False, metavar="[BUCKET[/PREFIX]]")
@click.option("-j", "--json", "as_json", is_flag=True, help="JSON array of the entries (streamed).")
@click.option("-H", "--no-headers", is_flag=True, help="No table header.")
@click.option("--page-size", type=click.IntRange(min=1), default=PAGE_SIZE, show_default=True,
              help="Entries per request (and the most held in memory).")
def list_objects(uri: str | None, as_json: bool, no_headers: bool, page_size: int) -> None:
    """List the objects of a bucket (or, without BUCKET, the buckets)."""
    if not uri:
        _list_buckets(as_json)
        return
    provider, bucket, prefix = parse_bucket_uri(uri)
    pages = iter_pages(client(), provider, bucket, prefix, page_size)
    if as_json:
        first = True
        click.echo("[", nl=False)
        for page in pages:
            for e in page:
                click.echo(("\n" if first else ",\n") + "    " + json.dumps(e), nl=False)
                first = False
        click.echo("\n]" if not first else "]")
        return
    width = len("NAME")
    header = not no_headers
    for page in pages:
        width = max([width] + [len(e.get("name", "")) for e in page])
        if header:
            done("NAME".ljust(width + 2) + " SIZE")
            header = False
        for e in page:
            done(e.get("name", "").ljust(width + 2) + " " + format_size(int(e.get("size") or 0)))


# ---- objects ---------------------------------------------------------------------------------------------------

def _object_uri(uri: str) -> tuple[str, str, str]:
    provider, bucket, name = parse_bucket_uri(uri)
    if not name:
        raise click.UsageError(f"{go_quote(uri)}: missing object name (expecting BUCKET/OBJECT)")
    return provider, bucket, name


@click.command("get")
@click.argument("uri", metavar="BUCKET/OBJECT")
@click.argument("dest", metavar="FILE", required=False)
def get_object(uri: str, dest: str | None) -> None:
    """Copy an object to FILE ('-' for stdout; default: the object's base name)."""
    provider, bucket, name = _object_uri(uri)
    dest = dest or os.path.basename(name)
    path = Client.object_path(bucket, name)
    with client().stream("GET", path, query={"provider": provider}) as resp:
        if dest == "-":
            out = sys.stdout.buffer
            while chunk := resp.read(CHUNK):
                out.write(chunk)
            out.flush()
            return
        if os.path.isdir(dest):
            dest = os.path.join(dest, os.path.basename(name))
        n = 0
        try:
            with open(dest, "wb") as f:
                while chunk := resp.read(CHUNK):
                    f.write(chunk)
                    n += len(chunk)
            expected = resp.getheader("Content-Length")
            if expected is not None and int(expected) != n:
                raise click.ClickException(f"GET {name}: short read ({n} of {expected} bytes)")
        except BaseException:
            with contextlib.suppress(OSError):
                os.remove(dest)
            raise
    done(f"GET {name} from {ais_cname(provider, bucket)} as {go_quote(dest)} ({format_size(n)})")


@click.group("object")
def object_group() -> None:
    """Object commands: get, rm, verify."""


object_group.add_command(get_object)


@object_group.command("rm")
@click.argument("uris", nargs=-1, required=True, metavar="BUCKET/OBJECT...")
def object_rm(uris: tuple[str, ...]) -> None:
    """Delete object(s)."""
    cl = client()
    for uri in uris:
        provider, bucket, name = _object_uri(uri)
        cl.request("DELETE", Client.object_path(bucket, name), query={"provider": provider})
        done(f"deleted {go_quote(name)} from {ais_cname(provider, bucket)}")


@object_group.command("verify")
@click.argument("uri", metavar="BUCKET[/PREFIX]")
@click.option("-v", "--verbose", is_flag=True, help="Print every object checked, not only the bad ones.")
def object_verify(uri: str, verbose: bool) -> None:
    """Re-read stored objects and check them against their blake3 (bit rot, tampering).

    Exits 1 when any object does not match.
    """
    provider, bucket, prefix = parse_bucket_uri(uri)
    summary: dict[str, int] = {}
    with client().stream("GET", f"/v1/verify/{quote(bucket, safe='')}",
                         query={"provider": provider, "prefix": prefix}) as resp:
        for line in resp:
            row = json.loads(line)
            if "summary" in row:
                summary = row["summary"]
                continue
            status = row["status"]
            if status == "mismatch":
                click.echo(f"MISMATCH {row['name']}: blake3 expected {row['expected']}, got {row['actual']}")
            elif status == "missing":
                click.echo(f"MISSING  {row['name']}")
            elif verbose:
                click.echo(f"{status.upper():8s} {row['name']}")
    checked, bad = summary.get("checked", 0), summary.get("mismatch", 0)
    line = f"Checked {checked} object(s) in {ais_cname(provider, bucket)}: {summary.get('ok', 0)} ok, {bad} mismatched"
    if summary.get("no_checksum"):
        line += f", {summary['no_checksum']} without a stored checksum"
    click.echo(line)
    if bad:
        sys.exit(1)
