"""Reading BTF: raw blobs in either byte order, and every container that holds one.

:func:`parse` turns raw BTF bytes into a :class:`~btfkit.format.btf.BTF`; :func:`load`
accepts a path or bytes and finds the BTF inside whatever it is given (raw BTF,
an ELF object, a compressed module, a bzImage, ``/sys/kernel/btf/<name>``).

Parsing checks what libbpf checks when it opens BTF (section bounds, record
bounds, string-section shape, that names and type IDs point somewhere), so
every later operation can trust the indexes.  The kernel's stricter rules live
in :mod:`btfkit.format.validate`.
"""

from __future__ import annotations

import os
import stat
import struct
import sys
from array import array
from itertools import count
from typing import BinaryIO

from ..errors import BTFFormatError, BTFHeaderError, BTFStringError, ELFError, RelocateError
from ..format.basefit import check_base_fits
from ..format.btf import BTF, ByteOrder
from ..format.kinds import (
    EXTRA,
    HEADER_LEN,
    HEADER_LEN_LAYOUT,
    INFO,
    KINDS,
    MAGIC,
    WIDE_INFO,
)
from ..format.relocate import relocate

SYSFS_DIR = "/sys/kernel/btf"


def _byteorder(data: bytes | bytearray | memoryview) -> ByteOrder:
    if len(data) < 2:
        raise BTFHeaderError("too short for a BTF header", offset=0)
    magic = data[0] | data[1] << 8
    if magic == MAGIC:
        return "little"
    if magic == ((MAGIC & 0xFF) << 8 | MAGIC >> 8):
        return "big"
    raise BTFHeaderError(f"bad magic {magic:#06x} (want 0xeb9f in either byte order)", offset=0)


def is_raw_btf(data: bytes | bytearray | memoryview) -> bool:
    """Whether ``data`` starts with the BTF magic in either byte order."""
    try:
        _byteorder(data)
    except BTFHeaderError:
        return False
    return True


def parse(data: bytes | bytearray | memoryview, base: BTF | None = None) -> BTF:
    """Parse raw BTF bytes (either byte order), split on top of ``base`` if given.

    Raises :class:`~btfkit.errors.BTFFormatError` (or a subclass) naming the
    offset or type ID of the first problem found in the header, the string
    section or the records' layout.  Whether names and type IDs point inside the
    BTF (libbpf's open-time check) is verified once, on first need, by
    :meth:`BTF.check_references`; look-ups on a dangling ID raise
    :class:`~btfkit.errors.TypeIDError` meanwhile.
    """
    data = memoryview(data).cast("B")
    order = _byteorder(data)
    end = "<" if order == "little" else ">"
    size = len(data)
    if size < HEADER_LEN:
        raise BTFHeaderError(f"{size} bytes is shorter than the {HEADER_LEN}-byte header", offset=0)
    _magic, version, flags, hdr_len = struct.unpack_from(end + "HBBI", data, 0)
    if version != 1:
        raise BTFHeaderError(f"unsupported version {version}", offset=2)
    if flags != 0:
        raise BTFHeaderError(f"unsupported flags {flags:#x}", offset=3)
    if hdr_len < HEADER_LEN or hdr_len > size:
        raise BTFHeaderError(f"header length {hdr_len} outside 24..{size}", offset=4)
    type_off, type_len, str_off, str_len = struct.unpack_from(end + "4I", data, 8)
    layout_off = layout_len = 0
    if hdr_len >= HEADER_LEN_LAYOUT:
        layout_off, layout_len = struct.unpack_from(end + "2I", data, 24)
    if any(data[HEADER_LEN_LAYOUT:hdr_len]):
        raise BTFHeaderError("unknown non-zero header fields past byte 32", offset=HEADER_LEN_LAYOUT)
    body = size - hdr_len
    if type_off % 4:
        raise BTFHeaderError(f"type section offset {type_off} not 4-byte aligned", offset=8)
    if str_off > body or str_len > body - str_off:
        raise BTFHeaderError(
            f"string section {str_off}+{str_len} beyond the data ({body} bytes)", offset=16
        )
    if type_off > str_off or type_len > str_off - type_off:
        raise BTFHeaderError(
            f"type section {type_off}+{type_len} overlaps the string section at {str_off}",
            offset=8,
        )
    if type_len % 4:
        raise BTFHeaderError(f"type section length {type_len} not a multiple of 4", offset=12)

    btf = BTF(base, byteorder=order, info_format=WIDE_INFO if hdr_len >= HEADER_LEN_LAYOUT else None)
    btf.header_len = hdr_len

    if layout_len:
        if layout_off % 4 or layout_len % 4:
            raise BTFHeaderError("layout section not 4-byte aligned", offset=24)
        if layout_off < type_off + type_len or layout_len > str_off - layout_off:
            raise BTFHeaderError("layout section overlaps another section", offset=24)
        raw = data[hdr_len + layout_off : hdr_len + layout_off + layout_len]
        entries = tuple(struct.iter_unpack(end + "BBH", raw))
        for k, (info_sz, elem_sz, _f) in enumerate(entries):
            if info_sz % 4 or elem_sz % 4:
                raise BTFHeaderError(
                    f"layout entry for kind {k} has sizes not multiple of 4",
                    offset=hdr_len + layout_off + 4 * k,
                )
        btf.set_layout(entries)
    elif base is not None and base.layout is not None:
        btf.set_layout(base.layout)  # a split without its own layout uses its base's
        btf.layout = None

    strs = bytes(data[hdr_len + str_off : hdr_len + str_off + str_len])
    _check_strings(strs, base, hdr_len + str_off)
    btf.strings.data[:] = strs
    btf.strs_deduped = len(strs) == 0 or (base is None and len(strs) == 1)
    if base is None and not strs:
        raise BTFStringError("empty string section in a BTF without base", offset=hdr_len + str_off)

    words = array("I")
    words.frombytes(data[hdr_len + type_off : hdr_len + type_off + type_len])
    if order != sys.byteorder:
        words.byteswap()
    btf.words = words
    btf.types_offset = hdr_len + type_off
    btf.keep_records_by_kind(*_index(btf, hdr_len + type_off))
    return btf


def _check_strings(strs: bytes, base: BTF | None, at: int) -> None:
    if not strs:
        return
    if strs[-1] != 0:
        raise BTFStringError("string section does not end with NUL", offset=at + len(strs) - 1)
    if base is None and strs[0] != 0:
        raise BTFStringError(
            "string section does not start with NUL (split BTF read without its base?)", offset=at
        )


def _index(btf: BTF, at: int) -> tuple[list[list[int]], list[list[int]]]:
    """Record where each type starts; return the record offsets grouped by kind, and
    their IDs (whole-BTF passes that work per kind would otherwise map them back).

    Fails on a record running past the section or of a kind nothing describes.
    """
    words = btf.words
    n = len(words)
    offsets: list[int] = []
    append = offsets.append
    fmt = btf.info_format
    kmask, vmask = fmt.kind_mask, fmt.vlen_mask
    # The loop works on the info word's top byte (kind plus kind_flag and unused bits),
    # saving a mask per record; groups of one kind are merged afterwards.
    groups: list[list[int]] = [[] for _ in range(256)]
    ids: list[list[int]] = [[] for _ in range(256)]
    # Per top byte: the record's fixed words, its words per element (0: none) and where
    # its offset and ID go; None for a kind nothing describes.  A fast path of KindSpec,
    # in a list: indexing one is cheaper than a dict lookup.
    place = [
        None if shape is None else (shape[0], shape[1], groups[top].append, ids[top].append)
        for top, shape in enumerate(_shapes(btf))
    ]
    w = 0
    try:
        # The section's end shows as an IndexError on the next record's info word.
        for type_id in count(btf.start_id):
            info = words[w + INFO]
            fixed, per, add, add_id = place[info >> 24]  # type: ignore[misc]
            append(w)
            add(w)
            add_id(type_id)
            if per:  # (most records have no elements: no mask, no product)
                w += fixed + (info & vmask) * per
            else:
                w += fixed
    except TypeError:  # no shape: a kind nothing describes
        raise BTFFormatError(
            f"unknown kind {fmt.kind(words[w + INFO])} (no layout section describes it)",
            offset=at + 4 * w,
            type_id=btf.start_id + len(offsets),
        ) from None
    except IndexError:
        pass
    if w != n:
        raise BTFFormatError(
            "record runs past the end of the type section",
            offset=at + 4 * (offsets[-1] if offsets else 0),
            type_id=btf.start_id + max(len(offsets) - 1, 0),
        )
    btf.offsets = array("I", offsets)
    return _by_kind(groups, kmask), _by_kind(ids, kmask)


#: :func:`_shapes` of BTF that knows only the kinds of KINDS, per kind mask (the usual case).
_STANDARD_SHAPES: dict[int, list[tuple[int, int] | None]] = {}


def _shapes(btf: BTF) -> list[tuple[int, int] | None]:
    """Per info top byte: a record's fixed words and its words per element (0: none), or None
    for a kind nothing describes.  Computed once for the standard kinds: a module tree's
    thousands of small parses would otherwise spend much of their time here."""
    kmask = btf.info_format.kind_mask
    standard = all(b._specs is KINDS for b in btf.chain)  # no layout section anywhere
    if standard and kmask in _STANDARD_SHAPES:
        return _STANDARD_SHAPES[kmask]
    shapes: list[tuple[int, int] | None] = []
    for top in range(256):
        try:
            s = btf.spec(top & kmask)
        except BTFFormatError:
            shapes.append(None)
            continue
        shapes.append((EXTRA + s.extra_words, s.elem_words if s.has_vlen else 0))
    if standard:
        _STANDARD_SHAPES[kmask] = shapes
    return shapes


def _by_kind(by_top: list[list[int]], kmask: int) -> list[list[int]]:
    """Merge lists kept per info top byte into lists per kind, keeping ascending order."""
    out: list[list[int]] = [[] for _ in range(kmask + 1)]
    for top, items in enumerate(by_top):
        if items:
            kind = out[top & kmask]
            if kind:
                kind += items
                kind.sort()  # two ascending runs: a linear merge
            else:
                out[top & kmask] = items
    return out


#: The most read from a device or FIFO (real BTF and ELF inputs are far smaller).
STREAM_LIMIT = 1 << 30
_CHUNK = 1 << 20


def read_input(name: str) -> bytes:
    """The bytes of the file ``name``: a regular file whole; a device or FIFO only as far
    as the BTF or ELF it starts with says it extends (``/dev/zero`` is no endless input).

    A FIFO nobody writes to blocks: after a second a line on stderr says what is awaited.
    Raises :class:`~btfkit.errors.ELFError` naming ``name`` when it cannot be read.
    """
    try:
        mode = os.stat(name).st_mode
        if stat.S_ISREG(mode) or stat.S_ISDIR(mode):  # (opening a directory fails, as wanted)
            with open(name, "rb") as f:
                return f.read()
        if not stat.S_ISFIFO(mode):
            with open(name, "rb") as f:
                return _read_stream(f, name)
        import threading  # noqa: PLC0415 (FIFOs only)

        note = threading.Timer(1.0, lambda: print(f"btfkit: waiting for data from the FIFO {name}",
                                                   file=sys.stderr, flush=True))  # fmt: skip
        note.daemon = True
        note.start()
        try:
            with open(name, "rb") as f:
                return _read_stream(f, name)
        finally:
            note.cancel()
    except OSError as exc:
        raise ELFError(f"{name}: {exc.strerror or exc}") from exc


def _read_stream(f: BinaryIO, name: str) -> bytes:
    """Read a device or FIFO as far as its contents say (see :func:`read_input`)."""
    from .elf import container_extent  # noqa: PLC0415 (not for regular files, the common case)

    buf = bytearray()

    def fill(size: int) -> None:
        while len(buf) < size:
            chunk = f.read(min(size - len(buf), _CHUNK))
            if not chunk:
                return
            buf.extend(chunk)

    fill(HEADER_LEN)
    while True:
        need = _btf_extent(buf) if is_raw_btf(buf) else container_extent(buf, name)
        if need is None:  # to the end
            need = STREAM_LIMIT + 1
        elif need > STREAM_LIMIT:
            raise ELFError(f"{name}: its headers claim {need} bytes: corrupt, or more than is read from a "
                           f"device or FIFO ({STREAM_LIMIT})")  # fmt: skip
        if need <= len(buf):
            return bytes(buf)
        had = len(buf)
        fill(need)
        if len(buf) > STREAM_LIMIT:
            raise ELFError(f"{name}: more than {STREAM_LIMIT} bytes from a device or FIFO")
        if len(buf) == had:  # the end came first: the parser reports what is missing
            return bytes(buf)


def _btf_extent(head: bytes | bytearray) -> int:
    """How long the raw BTF starting with ``head`` says it is (its header first)."""
    end = "<" if _byteorder(head) == "little" else ">"
    if len(head) < HEADER_LEN:
        return HEADER_LEN
    hdr_len: int = struct.unpack_from(end + "I", head, 4)[0]
    if len(head) < min(hdr_len, HEADER_LEN_LAYOUT):
        return min(hdr_len, HEADER_LEN_LAYOUT)
    type_off, type_len, str_off, str_len = struct.unpack_from(end + "4I", head, 8)
    layout_end = sum(struct.unpack_from(end + "2I", head, 24)) if hdr_len >= HEADER_LEN_LAYOUT else 0
    return int(hdr_len + max(type_off + type_len, str_off + str_len, layout_end))


def load(
    source: str | os.PathLike[str] | bytes | bytearray | memoryview,
    base: BTF | None = None,
    *,
    name: str | None = None,
) -> BTF:
    """Read BTF from a path or bytes: raw BTF, ELF (``.BTF``), compressed module or bzImage.

    A module under ``/sys/kernel/btf`` gets ``/sys/kernel/btf/vmlinux`` as its base
    automatically, as bpftool does.  An ELF object with a ``.BTF.base`` section is
    read on top of that distilled base and then, if ``base`` is given, relocated onto it
    as libbpf 1.5 does (:func:`btfkit.format.relocate.relocate`); the distilled base
    is kept in ``distilled_base`` either way.  Split BTF that evidently does not extend
    ``base`` (see :mod:`btfkit.format.basefit`) raises
    :class:`~btfkit.errors.BaseMismatchError`; :func:`parse` leaves that check out.
    ``name`` is the file that bytes came from, for messages (and the sysfs rule).
    """
    if not isinstance(source, (bytes, bytearray, memoryview)):
        name = os.fspath(source)
        data: bytes | bytearray | memoryview = read_input(name)
    else:
        data, name = source, name or "<bytes>"
    # os.path rather than pathlib: its import is a tenth of a small command's run.
    folder, file = os.path.split(os.path.normpath(name))
    if base is None and folder == SYSFS_DIR and file != "vmlinux":
        base = load(os.path.join(SYSFS_DIR, "vmlinux"))
    if is_raw_btf(data):
        btf = parse(data, base)
        check_base_fits(btf)
        return btf
    from ..format.elf import btf_sections  # noqa: PLC0415 (raw BTF, the common case, needs no ELF code)

    sections = btf_sections(data, name)
    pointer_size = sections.pointer_size
    if sections.base_btf is not None:
        distilled = parse(sections.base_btf)
        btf = parse(sections.btf, distilled)
        if base is not None:
            # As libbpf's btf__parse_split: moved onto the base given.
            try:
                btf = relocate(btf, base)
            except RelocateError as exc:
                raise RelocateError(f"{name}: {exc}", exc.type_name) from None
        btf.distilled_base = distilled
    else:
        btf = parse(sections.btf, base)
        check_base_fits(btf)
    if pointer_size:
        btf.pointer_size = pointer_size
    return btf
