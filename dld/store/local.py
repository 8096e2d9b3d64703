"""Local buckets on one or more mountpaths (disks).

Theory of operation:

* Layout of a mountpath ``MP``: ``MP/buckets/<provider>/<namespace or _>/<bucket>/<object path>`` holds published
  objects; ``MP/.dld/tmp/`` holds objects being written. Both are on the same filesystem, so publishing is one
  ``rename(2)``: a reader sees the old object or the new one, never a partial one.
* An object's file path is its name: users on a storage host read the data straight from disk. Names are already
  validated (no ``.``/``..`` components, no trailing ``/``); the two things a name can still carry that a path
  cannot are empty components (``/abs/x``, ``a//b``) and those are stored as a lone ``%`` (a literal ``%`` is
  stored as ``%25``), so the mapping is reversible.
* Metadata (size, blake3, provider metadata) is one JSON extended attribute, ``user.dld``, on the object file, set
  on the temp file before the rename so an object is never visible without it. A mountpath whose filesystem has no
  user xattrs is refused at start.
* The mountpath of an object is chosen by HRW over ``bucket.uname/name`` (``hrw.py``). Lookups try the HRW choice
  first and then the others, so objects survive a change of mountpath set (they are found, not moved).
* Listing is a lazy, sorted walk: entries of a directory are sorted by name with directories keyed as ``name/``,
  which makes the walk produce names in byte-wise lexicographic order, the order remote listings use and the
  ``synchronize`` merge-join needs. Several mountpaths are merged with ``heapq.merge``. Nothing holds a whole bucket
  listing in memory.
"""

from __future__ import annotations

import errno
import heapq
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from ..errors import NotFound, StoreError
from . import hrw
from .meta import Bck, ObjectEntry, ObjectMeta

XATTR = "user.dld"
# ext4 keeps at most one 4 KiB block of xattrs per inode; stay well under it so the metadata always fits.
MAX_META_BYTES = 3500
NAME_MAX = 255  # bytes per path component on ext4/xfs/btrfs


def _encode_component(c: str) -> str:
    return "%" if c == "" else c.replace("%", "%25")


def _decode_component(c: str) -> str:
    return "" if c == "%" else c.replace("%25", "%")


def _rel_path(name: str) -> str:
    parts = [_encode_component(c) for c in name.split("/")]
    for p in parts:
        if len(p.encode()) > NAME_MAX:
            raise StoreError(f'object name "{name}": a path component is longer than {NAME_MAX} bytes')
    return "/".join(parts)


class Mountpath:
    def __init__(self, path: Path) -> None:
        self.path = path.resolve()
        self.id = str(self.path)
        self.buckets = self.path / "buckets"
        self.tmp = self.path / ".dld" / "tmp"

    def bucket_dir(self, bck: Bck) -> Path:
        return self.buckets / bck.provider / (_encode_component(bck.namespace) if bck.namespace else "_") / bck.name


class Store:
    """The buckets and objects of one dld daemon. Synchronous: every call is a few syscalls on local disks."""

    def __init__(self, mountpaths: list[Path], *, fsync: bool = False) -> None:
        if not mountpaths:
            raise StoreError("no mountpaths configured")
        self.mountpaths = [Mountpath(Path(p)) for p in mountpaths]
        self.fsync = fsync
        for mp in self.mountpaths:
            mp.buckets.mkdir(parents=True, exist_ok=True)
            mp.tmp.mkdir(parents=True, exist_ok=True)
            self._probe_xattr(mp)

    @staticmethod
    def _probe_xattr(mp: Mountpath) -> None:
        probe = mp.tmp.parent / "xattr-probe"
        probe.touch()
        try:
            os.setxattr(probe, XATTR, b"{}")
        except OSError as e:
            raise StoreError(
                f"mountpath {mp.path}: the filesystem does not support user extended attributes ({e.strerror}); "
                "dld keeps object metadata in them. Use ext4, xfs, btrfs, or tmpfs on Linux >= 6.6."
            ) from e

    # ---- buckets -----------------------------------------------------------------------------------------------

    def bucket_exists(self, bck: Bck) -> bool:
        return self.mountpaths[0].bucket_dir(bck).is_dir()

    def create_bucket(self, bck: Bck) -> bool:
        """Create the bucket on every mountpath. Returns False if it already existed."""
        existed = self.bucket_exists(bck)
        for mp in self.mountpaths:
            mp.bucket_dir(bck).mkdir(parents=True, exist_ok=True)
        return not existed

    def destroy_bucket(self, bck: Bck) -> None:
        if not self.bucket_exists(bck):
            raise NotFound(f'bucket "{bck.cname}" does not exist')
        for mp in self.mountpaths:
            d = mp.bucket_dir(bck)
            if d.exists():
                # Rename first so the bucket disappears atomically, then delete at leisure.
                doomed = mp.tmp / f"destroy-{os.getpid()}-{id(d)}-{bck.name}"
                os.rename(d, doomed)
                shutil.rmtree(doomed, ignore_errors=True)

    def list_buckets(self, provider: str | None = None) -> list[Bck]:
        out = []
        root = self.mountpaths[0].buckets
        for pdir in sorted(root.iterdir()) if root.exists() else []:
            if provider and pdir.name != provider:
                continue
            for nsdir in sorted(pdir.iterdir()):
                ns = "" if nsdir.name == "_" else _decode_component(nsdir.name)
                out.extend(Bck(pdir.name, b.name, ns) for b in sorted(nsdir.iterdir()) if b.is_dir())
        return out

    # ---- objects -----------------------------------------------------------------------------------------------

    def _home(self, bck: Bck, name: str) -> Mountpath:
        return self.mountpaths[hrw.pick([m.id for m in self.mountpaths], f"{bck.uname}/{name}")]

    def _candidates(self, bck: Bck, name: str) -> Iterator[Path]:
        rel = _rel_path(name)
        home = self._home(bck, name)
        yield home.bucket_dir(bck) / rel
        for mp in self.mountpaths:
            if mp is not home:
                yield mp.bucket_dir(bck) / rel

    def object_path(self, bck: Bck, name: str) -> Path:
        """Where the object is (or would be published): the first existing candidate, else the HRW home."""
        first = None
        for p in self._candidates(bck, name):
            first = first or p
            if p.is_file():
                return p
        assert first is not None
        return first

    def head(self, bck: Bck, name: str) -> ObjectMeta | None:
        """The object's metadata, or None when it does not exist."""
        try:
            for p in self._candidates(bck, name):
                meta = _read_meta(p)
                if meta is not None:
                    return meta
        except StoreError:  # a name that cannot be a path cannot be stored either
            return None
        return None

    def delete(self, bck: Bck, name: str) -> bool:
        for p in self._candidates(bck, name):
            try:
                os.unlink(p)
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                continue
            self._prune_dirs(p.parent, self._home(bck, name).bucket_dir(bck))
            return True
        return False

    @staticmethod
    def _prune_dirs(d: Path, stop: Path) -> None:
        """Remove directories left empty by a delete, up to (not including) the bucket root."""
        for parent in [d, *d.parents]:
            if parent == stop or stop not in parent.parents:
                return
            try:
                parent.rmdir()
            except OSError:
                return

    def temp_path(self, bck: Bck, name: str, key: str) -> Path:
        """The temp file for an object being written, on the object's home mountpath.

        ``key`` names the owner (``<job id>.<item index>``): a resumed transfer finds its own partial file again and
        never adopts another job's file that happens to have the right size.
        """
        return self._home(bck, name).tmp / key

    def publish(self, tmp: Path, bck: Bck, name: str, meta: ObjectMeta, fd: int | None = None,
                prev: ObjectMeta | None | bool = True) -> None:
        """Attach ``meta`` to the finished temp file and rename it into place, replacing any previous version.

        Args:
            prev: the object's current metadata if the caller already looked it up (None: it does not exist);
                ``True`` (default) looks it up here. The new version is ``prev.version + 1``.

        Raises:
            StoreError: the name collides with a directory or a file on the way (``a`` vs ``a/b``), or the disk
                refused the write.
        """
        dest = self._home(bck, name).bucket_dir(bck) / _rel_path(name)
        if prev is True:
            prev = self.head(bck, name)
        if isinstance(prev, ObjectMeta):
            meta.version = prev.version + 1
        data = meta.to_bytes()
        if len(data) > MAX_META_BYTES:
            meta.custom["link"] = meta.custom.get("link", "")[:1024]
            data = meta.to_bytes()
        try:
            if fd is not None:
                os.setxattr(fd, XATTR, data)
                if self.fsync:
                    os.fsync(fd)
            else:
                os.setxattr(tmp, XATTR, data)
            try:
                os.rename(tmp, dest)
            except FileNotFoundError:
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.rename(tmp, dest)
        except (NotADirectoryError, FileExistsError) as e:
            raise StoreError(f'object name "{name}" conflicts with an existing object that is a prefix of it') from e
        except IsADirectoryError as e:
            raise StoreError(f'object name "{name}" conflicts with existing objects under "{name}/"') from e
        except OSError as e:
            if e.errno == errno.ENOSPC:
                from ..errors import OutOfSpace

                raise OutOfSpace(f"no space left on mountpath for {bck.cname}/{name}") from e
            raise StoreError(f"cannot publish {bck.cname}/{name}: {e.strerror}") from e
        # Remove a stale copy on a non-home mountpath (the object moved with a mountpath change).
        if len(self.mountpaths) > 1:
            for p in self._candidates(bck, name):
                if p != dest and p.is_file():
                    os.unlink(p)

    # ---- listing -----------------------------------------------------------------------------------------------

    def iter_objects(self, bck: Bck, prefix: str = "", start_after: str = "") -> Iterator[ObjectEntry]:
        """All objects of the bucket whose names start with ``prefix`` and sort after ``start_after``, in order."""
        walks = [_walk(mp.bucket_dir(bck), "", prefix, start_after) for mp in self.mountpaths]
        if len(walks) == 1:
            yield from walks[0]
        else:
            yield from heapq.merge(*walks, key=lambda e: e.name)

    def list_objects(self, bck: Bck, prefix: str = "", start_after: str = "", limit: int = 1000) -> list[ObjectEntry]:
        if not self.bucket_exists(bck):
            raise NotFound(f'bucket "{bck.cname}" does not exist')
        out = []
        for e in self.iter_objects(bck, prefix, start_after):
            out.append(e)
            if len(out) >= limit:
                break
        return out


def _read_meta(p: Path) -> ObjectMeta | None:
    try:
        return ObjectMeta.from_bytes(os.getxattr(p, XATTR))
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
    except OSError as e:
        if e.errno == errno.ENODATA:  # a file put there by hand: describe it by its size alone
            try:
                st = p.stat()
            except OSError:
                return None
            return ObjectMeta(size=st.st_size, atime_ns=st.st_mtime_ns) if p.is_file() else None
        raise


def _walk(d: Path, base: str, prefix: str, start_after: str) -> Iterator[ObjectEntry]:
    """Names under directory ``d`` (whose name prefix is ``base``) in byte-wise order, pruned by prefix/start."""
    try:
        it = os.scandir(d)
    except (FileNotFoundError, NotADirectoryError):
        return
    with it:
        entries = []
        for e in it:
            name = base + _decode_component(e.name)
            if e.is_dir(follow_symlinks=False):
                entries.append((name + "/", True, e))
            else:
                entries.append((name, False, e))
    entries.sort(key=lambda t: t[0].encode())
    for key, is_dir, e in entries:
        if is_dir:
            # The subtree holds names in [key, key[:-1] + "0"): skip it if it cannot match prefix or start_after.
            if not (key.startswith(prefix) or prefix.startswith(key)):
                continue
            if start_after >= key[:-1] + "0":
                continue
            yield from _walk(Path(e.path), key, prefix, start_after)
        else:
            if not key.startswith(prefix) or key <= start_after:
                continue
            meta = _read_meta(Path(e.path))
            if meta is not None:
                yield ObjectEntry(key, meta)
