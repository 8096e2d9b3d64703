"""Highest-random-weight placement of objects on mountpaths, as AIS does it (``fs.Hrw``).

Every (mountpath, bucket-uname + object name) pair gets a pseudo-random weight; the object lives on the mountpath
with the highest weight. Adding a mountpath moves only the objects that now weigh most on it, and the choice needs
no table: it is recomputed from the name. Pure: no I/O.
"""

from __future__ import annotations

import hashlib


def _weight(mountpath_id: str, key: str) -> int:
    # The mountpath goes into the hashed data, not blake2b's key parameter (at most 64 bytes: long paths would
    # collide and every object would land on the first mountpath).
    return int.from_bytes(hashlib.blake2b(f"{mountpath_id}\0{key}".encode(), digest_size=8).digest(), "big")


def pick(mountpath_ids: list[str], key: str) -> int:
    """Index of the mountpath that owns ``key``.

    Args:
        mountpath_ids: stable identifiers of the mountpaths (their absolute paths).
        key: ``bucket.uname + "/" + object_name``.
    """
    if len(mountpath_ids) == 1:
        return 0
    return max(range(len(mountpath_ids)), key=lambda i: _weight(mountpath_ids[i], key))
