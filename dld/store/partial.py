"""Resume state of a partially written object (a temp file), kept on the temp file itself.

A temp file is named for its owner (``<job id>.<item index>``) and carries one extended attribute,
``user.dld.resume``: the link, the validator (strong ETag or Last-Modified) its bytes came with, the boot ID of
the machine when they were written, and ``durable``, an offset known to be on disk (fdatasync'd).

After a daemon crash on the same boot, the page cache still holds every byte written, so the whole file is good.
After a reboot, only the bytes up to ``durable`` are trusted; the rest is cut off before resuming. A temp file
without this attribute, or with another link, or without a validator, is never resumed: its bytes cannot be
proven to belong to the current version of the object.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

XATTR = "user.dld.resume"


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return ""


BOOT_ID = _boot_id()


@dataclass(frozen=True, slots=True)
class ResumeState:
    link: str
    validator: str
    boot: str
    durable: int


def write(fd: int, link: str, validator: str, durable: int = 0) -> None:
    """Record (or replace) the resume state; an empty validator removes it (the bytes are not resumable)."""
    if not validator:
        clear(fd)
        return
    data = json.dumps({"link": link, "validator": validator, "boot": BOOT_ID, "durable": durable}).encode()
    os.setxattr(fd, XATTR, data[:3500])


def clear(fd: int) -> None:
    try:
        os.removexattr(fd, XATTR)
    except OSError:
        pass


def read(fd: int) -> ResumeState | None:
    try:
        d = json.loads(os.getxattr(fd, XATTR))
        return ResumeState(d["link"], d["validator"], d.get("boot", ""), int(d.get("durable", 0)))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def resumable_offset(fd: int, link: str) -> tuple[int, str]:
    """``(offset, validator)`` to resume from, after cutting the file to what can be trusted; ``(0, "")`` if
    nothing can (the caller then starts the object over)."""
    size = os.fstat(fd).st_size
    if size == 0:
        return 0, ""  # a fresh temp file: nothing to resume (and no xattr to read)
    st = read(fd)
    if st is None or st.link != link or not st.validator:
        return 0, ""
    offset = size if st.boot == BOOT_ID and BOOT_ID else min(size, st.durable)
    if offset < size:
        os.ftruncate(fd, offset)
    return offset, st.validator
