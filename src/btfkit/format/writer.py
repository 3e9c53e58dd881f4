"""Writing BTF: raw bytes in either byte order, and files written atomically.

A BTF writes only what it owns: a split BTF's blob holds its own types and
strings, with the usual header.  Sections are laid out as libbpf lays them
out (types, then the kind-layout section if any, then strings), so parsing
and writing a real input gives back the same bytes.
"""

from __future__ import annotations

import contextlib
import os
import struct
import sys
import time

from ..format.btf import BTF, ByteOrder
from ..format.kinds import HEADER_LEN_LAYOUT, MAGIC, VERSION


def to_bytes(btf: BTF, byteorder: ByteOrder | None = None) -> bytes:
    """The raw BTF blob of ``btf``'s own types and strings, in ``byteorder`` (default: its own)."""
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


def write_atomic(path: str | os.PathLike[str], data: bytes, *, fsync: bool = True) -> None:
    """Write ``data`` to ``path`` via a temporary file and a rename: never a half-written file.

    ``fsync=False`` skips flushing the data to disk before the rename: still
    atomic for readers, but not crash-proof; for writing many files, followed
    by one :func:`os.sync`.
    """
    import tempfile  # noqa: PLC0415 (only writing needs it; dumps should not pay its import)

    path = os.fspath(path)
    folder, name = os.path.split(path)
    fd, tmp = tempfile.mkstemp(dir=folder or ".", prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            stall = os.environ.get(_STALL_ENV)
            if stall:  # test hook: stop halfway through, so a test can kill us mid-write
                f.write(data[: len(data) // 2])
                f.flush()
                time.sleep(float(stall))
                data = data[len(data) // 2 :]
            f.write(data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        if os.path.exists(path):
            os.chmod(tmp, os.stat(path).st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write(btf: BTF, path: str | os.PathLike[str], byteorder: ByteOrder | None = None) -> None:
    """Write ``btf`` as a raw BTF file, atomically."""
    write_atomic(path, to_bytes(btf, byteorder))
