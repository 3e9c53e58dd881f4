"""A whole C dump written by two processes (``dump_c(parallel=True)``).

A C dump is one walk over the types, but most of its time goes into writing text,
which depends on the walk's state only through names: a name shared by several
types gets a ``___N`` suffix in the order the types are first written.  So a second
process can walk the first part of the types without writing anything (cheap),
then write the rest with a mark for each name, which the first process (having
written the first part meanwhile) replaces with the name, suffix and all, meeting
the marks in the order they were written.

The single-process dumper knows nothing of this: the second process walks it
with ``formatting`` off, then gives it names that write marks (:class:`_Marks`).
"""

from __future__ import annotations

from itertools import chain

from ...format.btf import BTF
from ...format.kinds import column
from .common import _COMPARED, _ENUM, _ENUM64, _FWD, _STRUCT, _TYPEDEF, _UNION
from .dumper import Dumper
from .index import _anonymous_enums, _check_references, _referenced
from .naming import Names

_PARALLEL_MIN_TYPES = 20_000  # below this a second process costs more than it saves
_PARENT_SHARE = 0.58  # of the definitions, the part the first process writes


def worth_forking(btf: BTF) -> bool:
    """Whether a whole dump of ``btf`` may gain from a second process."""
    return btf.base is None and btf.type_count >= _PARALLEL_MIN_TYPES


def dump_forked(btf: BTF, split: int | None = None) -> tuple[list[str], Dumper]:
    """The text of a whole C dump of ``btf`` (no base), written by two processes, and
    this process's dumper (its state after the dump).

    This process checks the references (the other one sets up its dumper
    meanwhile and then takes what the check found) and walks the roots below
    ``split``, the second one the rest (by default, ``split`` leaves this
    process its share of the definitions).  Falls back to one process where
    there is no fork, and to finishing alone when the second process fails or
    finds names it cannot mark (this process then goes on where it stopped,
    which raises any error the walk meets).
    """
    import marshal  # noqa: PLC0415 (only the forked dump needs these)
    import os  # noqa: PLC0415
    from contextlib import suppress  # noqa: PLC0415

    if split is None:
        groups = btf.ids_by_kind()
        kinds = (_STRUCT, _UNION, _ENUM, _ENUM64, _TYPEDEF, _FWD)
        defs = sorted(chain.from_iterable(groups[k] for k in kinds if k < len(groups)))
        split = defs[int(len(defs) * _PARENT_SHARE)] if defs else btf.type_count
    text_r, text_w = os.pipe()  # the second process's text, to this one
    refs_r, refs_w = os.pipe()  # what the reference check found, to the second process
    try:
        pid = os.fork()
    except (AttributeError, OSError):  # no fork on this system, or no room for a process
        for fd in (text_r, text_w, refs_r, refs_w):
            os.close(fd)
        pid = -1
    if pid == 0:  # the second process: never returns
        status = 1
        try:
            os.close(text_r)
            os.close(refs_w)
            d = Dumper(btf, referenced=set())
            found = _read_all(refs_r)
            if found:  # nothing: the check failed here
                d.referenced = marshal.loads(found)
                status = _dump_rest(d, split, text_w)
        finally:
            os._exit(status)
    if pid > 0:
        os.close(text_w)
        os.close(refs_r)
    try:
        referenced = _check_references(btf)  # bpftool cannot open BTF with dangling names or IDs
        if referenced is None:  # checked before: what it finds is not kept
            referenced = _referenced(btf, _anonymous_enums(btf))
        if pid > 0:
            with suppress(BrokenPipeError):  # the second process is gone: its status tells, below
                _write_all(refs_w, marshal.dumps(referenced))
            os.close(refs_w)
            refs_w = -1
        d = Dumper(btf, referenced=referenced)
        d.dump(range(1, split))
        data = _read_all(text_r) if pid > 0 else b""
    except BaseException:
        if pid > 0:
            os.kill(pid, 9)  # SIGKILL: its part is of no use now
        raise
    finally:
        if pid > 0:
            os.close(text_r)
            if refs_w >= 0:
                os.close(refs_w)
            status = os.waitpid(pid, 0)[1]
    if pid < 0 or status or not data:
        d.dump(range(split, d.n))
        return d.out, d
    text, log = marshal.loads(data)
    return [*d.out, _settle_names(d, text, log)], d


def _dump_rest(d: Dumper, split: int, fd: int) -> int:
    """The second process: walk up to ``split`` silently, write the rest with marked
    names, and send text and log through ``fd``.  Returns the exit status."""
    import marshal  # noqa: PLC0415

    if not _markable(d):
        return 2
    d.formatting = False  # no name is settled by this walk
    d.dump(range(1, split))
    d.formatting = True
    d.naming = marks = _Marks(d)
    d.out = []
    d.dump(range(split, d.n))
    _write_all(fd, marshal.dumps(("".join(d.out), marks.log)))
    return 0


def _write_all(fd: int, data: bytes) -> None:
    import os  # noqa: PLC0415

    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_all(fd: int) -> bytes:
    import os  # noqa: PLC0415

    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def _markable(d: Dumper) -> bool:
    """Whether the second process may mark every name: no string holds a mark
    character, and each name the dump compares (rather than only writes) names
    at most one type or enum value, so that it never takes a suffix."""
    btf = d.btf
    data = bytes(btf.strings.data)
    if b"\x01" in data:
        return False
    found: list[list[int]] = []  # per compared name, every offset that reads as it
    for text in _COMPARED:
        key, offsets = text.encode() + b"\0", []
        at = data.find(key)
        while at >= 0:
            offsets.append(at)
            at = data.find(key, at + 1)
        if offsets:
            found.append(offsets)
    if not found:
        return True
    words, vmask = btf.words, btf.info_format.vlen_mask
    names: list[int] = []
    for k, group in enumerate(btf.records_by_kind()):
        names += column(words, group, 0)
        if k in (_ENUM, _ENUM64):
            step = 2 if k == _ENUM else 3
            for w in group:
                names += words[w + 3 : w + 3 + step * (words[w + 1] & vmask) : step]
    return all(sum(map(names.count, offsets)) <= 1 for offsets in found)


class _Marks(Names):
    """Names for the second process: each name the dump only writes becomes a mark
    (``\\x01INDEX\\x01``, an index into ``log``) for the first process to settle."""

    def __init__(self, d: Dumper) -> None:
        super().__init__(d)
        self.log: list[tuple[int, str]] = []  # (type ID or -1 for an enumerator, name)

    def settle(self, tid: int, name: str, table: dict[str, int]) -> str:
        if name in _COMPARED:  # _markable made sure these never take a suffix
            return super().settle(tid, name, table)
        mark = f"\x01{len(self.log)}\x01"
        self.log.append((tid, name))
        return mark


def _settle_names(d: Dumper, text: str, log: list[tuple[int, str]]) -> str:
    """Replace the marks in ``text`` (from the second process) with the names this
    process gives them, meeting them in the order the second one wrote them."""
    naming, kind = d.naming, d.kind
    names, type_names, idents = naming.resolved, naming.type_names, naming.ident_names
    final: list[str] = []
    for tid, name in log:
        if tid < 0:  # an enumerator: every one counts
            final.append(naming.enum_value(name))
            continue
        got = names[tid]
        if got is None:
            got = names[tid] = naming.settle(tid, name, idents if kind[tid] == _TYPEDEF else type_names)
        final.append(got)
    # A mark is a log index between two mark characters: splitting on them puts the
    # indexes at the odd places (cheaper than a regular expression over the text).
    parts = text.split("\x01")
    parts[1::2] = [final[int(key)] for key in parts[1::2]]
    return "".join(parts)
