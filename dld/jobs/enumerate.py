"""What a job downloads, produced lazily in index order, starting at any index (a resumed job's cursor).

Single jobs have one item; range jobs expand their template in batches (``dld.template``, Cython); multi jobs read
their list from the journal in pages. Nothing here holds a whole template or list. A name that fails validation
mid-way (possible only for multi lists built before validation existed, or a range template whose middle names
differ in shape) becomes an item carrying its error, so the job records it and goes on.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import BadRequest
from ..names import object_name_from_link, prepend_protocol
from ..template import parse_bash_template

if TYPE_CHECKING:
    from ..wire import JobSpec
    from .journal import Journal

BATCH = 1000


@dataclass(frozen=True, slots=True)
class Item:
    idx: int
    name: str
    link: str
    error: str = ""


def count(spec: JobSpec, n_items: int = 0) -> int:
    """The job's ``total``: known up front for every kind dld supports so far."""
    if spec.kind == "single":
        return 1
    if spec.kind == "range":
        return parse_bash_template(spec.template).count()
    return n_items


def items(spec: JobSpec, job_id: str, journal: Journal, start: int = 0) -> Iterator[list[Item]]:
    """Batches of items with index ≥ ``start``."""
    if spec.kind == "single":
        if start == 0:
            yield [Item(0, spec.object_name, spec.link)]
        return
    if spec.kind == "range":
        idx = start
        for batch in parse_bash_template(spec.template).expand(start, BATCH):
            out = []
            for link in batch:
                try:
                    out.append(Item(idx, object_name_from_link(link, spec.subdir), prepend_protocol(link)))
                except BadRequest as e:
                    out.append(Item(idx, link, prepend_protocol(link), e.message))
                idx += 1
            yield out
        return
    if spec.kind == "multi":
        while True:
            rows = journal.items(job_id, start, BATCH)
            if not rows:
                return
            yield [Item(i, n, link) for i, n, link in rows]
            start = rows[-1][0] + 1
        return
    raise BadRequest(f"job kind {spec.kind!r} cannot be enumerated by this dld")
