"""Writing BTF: raw bytes in either byte order, and files written atomically.

A BTF writes only what it owns: a split BTF's blob holds its own types and
strings, with the usual header.  Sections are laid out as libbpf lays them
out (types, then the kind-layout section if any, then strings), so parsing
and writing a real input gives back the same bytes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import struct
import sys
import time
from collections.abc import Iterable
from typing import BinaryIO

from ..errors import BTFError, BTFFormatError
from ..format.btf import BTF, ByteOrder
from ..format.kinds import HEADER_LEN_LAYOUT, MAGIC, VERSION


def to_bytes(btf: BTF, byteorder: ByteOrder | None = None, *, check: bool = True) -> bytes:
    """The raw BTF blob of ``btf``'s own types and strings, in ``byteorder`` (default: its own).

    Raises :class:`~btfkit.errors.BTFFormatError` rather than write a name or type ID
    pointing outside the BTF (:meth:`BTF.check_references`, free once checked).
    ``check=False`` lays out whatever the BTF holds, for comparing an unfinished BTF
    with libbpf's raw data or making damaged input on purpose.
    """
    if check:
        try:
            btf.check_references()
        except BTFFormatError as exc:
            refused = type(exc)(f"refusing to write BTF that fails its own checks: {exc}")
            refused.offset, refused.type_id = exc.offset, exc.type_id
            raise refused from exc
    order = byteorder or btf.byteorder
    end = "<" if order == "little" else ">"
    words = btf.words
    if order != sys.byteorder:
        words = words[:]
        words.byteswap()
    types = words.tobytes()
    layout = b""
    if btf.layout is not None:
        layout = b"".join(struct.pack(end + "BBH", *e) for e in btf.layout)
    strs = bytes(btf.strings.data)
    hdr_len = max(btf.header_len, HEADER_LEN_LAYOUT if layout else 0)
    header = struct.pack(
        end + "HBBI4I", MAGIC, VERSION, 0, hdr_len, 0, len(types), len(types) + len(layout), len(strs)
    )
    if hdr_len >= HEADER_LEN_LAYOUT:
        header += struct.pack(end + "2I", len(types) if layout else 0, len(layout))
    header = header.ljust(hdr_len, b"\0")
    return b"".join((header, types, layout, strs))


_STALL_ENV = "BTFKIT_TEST_WRITE_STALL"  # seconds to pause halfway through a file (tests only)

#: Temporary files this process is writing now: a signal handler removes them
#: (:func:`remove_pending`) before the process dies of the signal.
_pending: set[str] = set()


def remove_pending() -> None:
    """Remove the temporary files of writes in progress (for a handler of a fatal signal)."""
    for tmp in list(_pending):
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    _pending.clear()


def refuse_overwriting(output: str | os.PathLike[str], inputs: Iterable[str | os.PathLike[str] | None]) -> None:
    """Raise :class:`BTFError` if ``output`` is one of ``inputs`` (the same file, by any path).

    A command writing its output over its own input (or base) would destroy what
    it reads: ``encode x.o -o x.o``, ``merge -B base.btf m.o -o base.btf``.
    Compared by device and inode, so another path or a hard link counts too.
    """
    try:
        out = os.stat(output)
    except OSError:
        return  # does not exist yet: it is no input
    if not stat.S_ISREG(out.st_mode):
        return  # a device or a FIFO is no file to destroy
    for path in inputs:
        if path is None:
            continue
        try:
            st = os.stat(path)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == (out.st_dev, out.st_ino):
            same = "" if os.fspath(path) == os.fspath(output) else f" ({os.fspath(path)})"
            raise BTFError(f"{os.fspath(output)}: the output is also an input{same}; write it elsewhere")


def write_atomic(path: str | os.PathLike[str], data: bytes, *, fsync: bool = True) -> None:
    """Write ``data`` to ``path`` via a temporary file and a rename: never a half-written file.

    What the rename would get wrong is done as ``cp``/``objcopy`` do it instead:
    a symbolic link is written through (its target is replaced, the link stays);
    a device or a FIFO is written into directly; a file with several hard links
    is rewritten in place, so every name sees the new contents.  A replaced file
    keeps its mode, owner and group (if the owner cannot be kept, the
    setuid/setgid bits are dropped); a new file gets the mode the umask gives.
    Errors name ``path``, never the temporary file.

    ``fsync=False`` skips flushing the data to disk before the rename: still
    atomic for readers, but not crash-proof; for writing many files, followed
    by one :func:`os.sync`.
    """
    shown = os.fspath(path)
    try:
        _write(shown, data, fsync)
    except OSError as exc:
        if exc.errno is None:
            raise
        raise OSError(exc.errno, exc.strerror, shown) from None


def _write(path: str, data: bytes, fsync: bool) -> None:
    try:
        old: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        old = None
    if old is not None and stat.S_ISDIR(old.st_mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
    if old is not None and (not stat.S_ISREG(old.st_mode) or old.st_nlink > 1):
        # A device or FIFO (also behind /dev/stdout) must stay what it is; a hard-linked
        # file must stay one file.
        with open(path, "wb") as f:
            _fill(f, data, fsync and stat.S_ISREG(old.st_mode))
        return
    target = os.path.realpath(path)  # through symbolic links: the link stays, its target changes
    folder, name = os.path.split(target)
    prefix = _tmp_prefix(name)
    _remove_stale(folder, prefix)
    tmp = os.path.join(folder, f"{prefix}{os.getpid()}.{os.urandom(4).hex()}.tmp")
    _pending.add(tmp)
    try:
        # 0o666 less the umask, as for any file a program creates (mkstemp would give 0600).
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        with os.fdopen(fd, "wb") as f:
            if old is not None:
                _keep_owner_and_mode(fd, old)
            _fill(f, data, fsync)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    finally:
        _pending.discard(tmp)


def _fill(f: BinaryIO, data: bytes, fsync: bool) -> None:
    stall = os.environ.get(_STALL_ENV)
    if stall:  # test hook: stop halfway through, so a test can signal us mid-write
        f.write(data[: len(data) // 2])
        f.flush()
        time.sleep(float(stall))
        data = data[len(data) // 2 :]
    f.write(data)
    if fsync:
        f.flush()
        os.fsync(f.fileno())


def _keep_owner_and_mode(fd: int, old: os.stat_result) -> None:
    """Give the new file ``old``'s owner, group and mode (owner first: chown clears setuid)."""
    mode = stat.S_IMODE(old.st_mode)
    new = os.fstat(fd)
    if (new.st_uid, new.st_gid) != (old.st_uid, old.st_gid):
        try:
            os.fchown(fd, old.st_uid, old.st_gid)
        except PermissionError:
            # Not allowed to give it away: a setuid/setgid file would now run as us.
            mode &= ~(stat.S_ISUID | stat.S_ISGID)
    os.fchmod(fd, mode)


def _tmp_prefix(name: str) -> str:
    """How the temporaries for file ``name`` start: hidden, and short enough for any file system."""
    return f".{name[:200]}."


def _remove_stale(folder: str, prefix: str) -> None:
    """Remove temporaries starting with ``prefix`` left by a btfkit process that died
    (SIGKILL, a crash): ``PREFIX<pid>.<8 hex digits>.tmp`` whose pid no longer runs."""
    try:
        entries = os.listdir(folder or ".")
    except OSError:
        return  # the write itself will report the folder
    for entry in entries:
        if not (entry.startswith(prefix) and entry.endswith(".tmp")):
            continue
        pid, _, tag = entry[len(prefix) : -len(".tmp")].partition(".")
        if not (pid.isdigit() and len(tag) == 8 and _is_dead(int(pid))):
            continue
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(folder, entry))


def _is_dead(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # alive, another user's
    return False


def write(btf: BTF, path: str | os.PathLike[str], byteorder: ByteOrder | None = None) -> None:
    """Write ``btf`` as a raw BTF file, atomically."""
    write_atomic(path, to_bytes(btf, byteorder))
