"""C header output: ``vmlinux.h`` exactly as ``bpftool btf dump file FILE format c`` writes it.

The reference is Debian 12's bpftool 7.1 built on libbpf 1.1 (``btf_dump.c``):
:func:`dump_c` returns the same bytes, for standalone BTF and for split BTF
(where, like bpftool, every type from ID 1 on is dumped, the base's included).
Beyond bpftool 7.1 it can sort the output by name (``sort=True``, the order newer
bpftool uses by default), emit only some types and what they need
(``roots=[...]``), and merge several modules over one base into one header
(:func:`merge_modules`).

How the package is laid out
---------------------------
One dump is one :class:`~.dumper.Dumper`, built in layers, each a module:

* :mod:`.index`: the records of the BTF by type ID, and which anonymous enums
  some type refers to;
* :mod:`.layout`: sizes, alignment and packing of types;
* :mod:`.naming`: the names written, with the ``___N`` suffix rule;
* :mod:`.render`: the C text of definitions and declarations;
* :mod:`.dumper`: the walk that decides what is written when (ordering and
  emitting, as libbpf names them) and the dump state;
* :mod:`.sorting`: newer bpftool's order (``sort=True``).

A module's header starts with all of vmlinux.  The dump of a base, and the
dump state after it, are kept per base BTF object, so every further module
over the same base only costs its own types (unless one of them refers to an
anonymous base enum that the base left unreferenced, which changes the base's
part; then everything is dumped afresh).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from ...errors import BTFError, KindError, NotFoundError
from ...format.btf import BTF
from ...format.kinds import Kind
from ...gcpause import paused_gc
from .dumper import Dumper
from .index import _check_references
from .sorting import _sort_key_fn

TYPE_CHECKING = False  # typing and weakref are imported when needed: start-up time counts
if TYPE_CHECKING:
    import weakref
    from typing import TextIO

__all__ = ["EPILOGUE", "PREAMBLE", "c_text", "dump_c", "iter_c", "merge_modules", "write_c"]

#: What bpftool 7.1 prints before the types.
PREAMBLE = (
    "#ifndef __VMLINUX_H__\n"
    "#define __VMLINUX_H__\n"
    "\n"
    "#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n"
    "#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)\n"
    "#endif\n"
    "\n"
)
#: What bpftool 7.1 prints after the types.
EPILOGUE = (
    "#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n"
    "#pragma clang attribute pop\n"
    "#endif\n"
    "\n"
    "#endif /* __VMLINUX_H__ */\n"
)

#: Set (to a list) by a caller that ends its process right after the dump (the command
#: line): the dump's working state goes there instead of being freed, which costs as
#: much as 3% of writing a vmlinux.h.
kept_for_exit: list[object] | None = None


# --- the base-dump cache ------------------------------------------------------------------
class _BaseDump:
    __slots__ = ("key", "state", "text")

    def __init__(self, key: tuple[int, int, int], state: Dumper, text: list[str]) -> None:
        self.key = key
        self.state = state
        self.text = text


# Dumping a module over vmlinux first dumps all of vmlinux; the result (text and
# state) is kept per base so that many modules over one base cost one base dump.
_BASE_DUMPS: weakref.WeakKeyDictionary[BTF, _BaseDump] | None = None


def _base_key(btf: BTF) -> tuple[int, int, int]:
    return (btf.type_count, len(btf.words), len(btf.strings))


def _dump_base(base: BTF) -> _BaseDump:
    global _BASE_DUMPS  # noqa: PLW0603 (made on first use)
    if _BASE_DUMPS is None:
        import weakref  # noqa: PLC0415

        _BASE_DUMPS = weakref.WeakKeyDictionary()
    got = _BASE_DUMPS.get(base)
    if got is not None and got.key == _base_key(base):
        return got
    d = Dumper(base)
    with paused_gc():
        d.dump(range(1, d.n))
    got = _BaseDump(_base_key(base), d, d.out)
    d.out = []
    _BASE_DUMPS[base] = got
    return got


def _root_ids(btf: BTF, roots: Sequence[int | str]) -> list[int]:
    ids: list[int] = []
    for root in roots:
        if isinstance(root, int):
            btf[root]  # raises TypeIDError when out of range
            ids.append(root)
            continue
        found = btf.find_all(root)
        if not found:
            raise NotFoundError(f"no type named {root!r}")
        ids.extend(t.id for t in found)
    return ids


# --- public API -------------------------------------------------------------------------------
def iter_c(
    btf: BTF, *, sort: bool = False, roots: Sequence[int | str] | None = None
) -> Iterator[str]:
    """Yield the C header for ``btf`` in pieces (see :func:`dump_c`).

    The pieces are worked out before the first one is yielded.
    """
    referenced = _check_references(btf)  # bpftool cannot open BTF with dangling names or IDs
    with paused_gc():
        head, d, ids = _prepare(btf, sort, roots, referenced)
        d.dump(ids)
        body = d.out
        if kept_for_exit is not None:
            kept_for_exit.append(d)
        del d  # freed before the collector is back, which would only scan it
    yield PREAMBLE
    yield from head
    yield from body
    yield EPILOGUE


def _prepare(
    btf: BTF, sort: bool, roots: Sequence[int | str] | None, referenced: set[int] | None
) -> tuple[list[str], Dumper, Iterable[int]]:
    """Text already known, the dumper and the IDs to dump with it."""
    if roots:
        d = Dumper(btf, referenced=referenced)
        return [], d, _root_ids(btf, roots)
    if sort:
        d = Dumper(btf, referenced=referenced)
        return [], d, [key[-1] for key in sorted(_sort_key_fn(d))]
    if btf.base is not None:
        base = _dump_base(btf.base)
        if base.state.carries_over(btf):
            return base.text, Dumper(btf, base.state), range(btf.start_id, btf.type_count)
    d = Dumper(btf, referenced=referenced)
    return [], d, range(1, d.n)


def dump_c(
    btf: BTF, *, sort: bool = False, roots: Sequence[int | str] | None = None
) -> str:
    """The C header for ``btf``, byte for byte what ``bpftool btf dump file F format c`` prints.

    For split BTF every type from ID 1 on is written, the base's included, as bpftool
    7.1 does.  ``sort=True`` orders types by kind rank and name the way newer bpftool
    does (but keeps every type).  ``roots`` limits the output to the given type IDs
    and names (every type of that name) plus what they need, in that order.

    Raises :class:`BTFFormatError` for type graphs C cannot express (a struct that
    contains itself, cyclic modifier chains) and :class:`NotFoundError` for an
    unknown root name.
    """
    return "".join(iter_c(btf, sort=sort, roots=roots))


def write_c(
    btf: BTF,
    file: TextIO,
    *,
    sort: bool = False,
    roots: Sequence[int | str] | None = None,
) -> None:
    """Write the C header for ``btf`` to ``file`` (see :func:`dump_c`)."""
    for piece in iter_c(btf, sort=sort, roots=roots):
        file.write(piece)


class _Recorder(Dumper):
    """A dumper that keeps the first top-level block it writes for each type (for :func:`c_text`).

    The block cannot be rendered again afterwards: enumerators are counted each
    time their enum is written, so a second rendering would number them anew.
    """

    def __init__(self, btf: BTF, referenced: set[int] | None) -> None:
        super().__init__(btf, referenced=referenced)
        self.blocks: dict[int, str] = {}

    def _struct_def(self, tid: int, lvl: int) -> str:
        text = super()._struct_def(tid, lvl)
        if not lvl:
            self.blocks.setdefault(tid, text)
        return text

    def _enum_def(self, tid: int, lvl: int) -> str:
        text = super()._enum_def(tid, lvl)
        if not lvl:
            self.blocks.setdefault(tid, text)
        return text

    def _typedef_def(self, tid: int, lvl: int) -> str:
        text = super()._typedef_def(tid, lvl)
        if not lvl:
            self.blocks.setdefault(tid, text)
        return text


# A whole dump per BTF (and generation of its records), for c_text: the ___N
# suffixes a block shows depend on everything written before it.
_RECORDED: weakref.WeakKeyDictionary[BTF, tuple[int, _Recorder]] | None = None


def _recorded(btf: BTF) -> _Recorder:
    """A dump of all of ``btf`` that kept each type's block (its header text dropped)."""
    global _RECORDED  # noqa: PLW0603 (made on first use)
    if _RECORDED is None:
        import weakref  # noqa: PLC0415

        _RECORDED = weakref.WeakKeyDictionary()
    got = _RECORDED.get(btf)
    if got is not None and got[0] == btf.generation:
        return got[1]
    d = _Recorder(btf, _check_references(btf))
    with paused_gc():
        d.dump(range(1, d.n))
    d.out = []
    _RECORDED[btf] = (btf.generation, d)
    return d


def c_text(btf: BTF, type_id: int) -> str:
    """The C text :func:`dump_c` writes for one type, ending with its ``;`` (no blank line).

    A struct, union or enum gives its definition (an anonymous one, the
    definition written inline where it is used), a forward declaration its
    ``struct x;``, a typedef its line, a FUNC its prototype, a VAR its
    declaration, and any other type its C spelling (``struct file *``).  Names
    carry the ``___N`` suffixes they have in the whole header, so the first call
    on a BTF dumps all of it (kept while the BTF's records stay as they are).
    DATASEC and DECL_TAG have no C text (:class:`~btfkit.KindError`).
    """
    t = btf[type_id]  # raises TypeIDError when out of range
    k = t.kind
    if k in (Kind.DATASEC, Kind.DECL_TAG):
        raise KindError(f"{t.describe()} has no C text")
    d = _recorded(btf)
    if k in (Kind.FUNC, Kind.VAR):
        return d._decl(t.type_id, t.name, 0) + ";"
    block = d.blocks.get(type_id)
    if block is not None:
        return block + ";"
    if k in (Kind.STRUCT, Kind.UNION):  # anonymous, only ever written inline
        return d._struct_def(type_id, 0) + ";"
    if k in (Kind.ENUM, Kind.ENUM64):
        return d._enum_def(type_id, 0) + ";"
    if k == Kind.FWD:
        return d._fwd_def(type_id) + ";"
    if k == Kind.TYPEDEF:  # one the dump leaves out (__builtin_va_list)
        return d._typedef_def(type_id, 0) + ";"
    return d._decl(type_id, "", 0)


def merge_modules(modules: Sequence[BTF]) -> BTF:
    """One split BTF with the types of several modules over their common base, deduplicated.

    This is what bpftool 7.7 does for ``btf dump file A file B ...``: the modules'
    own types are appended one module after another (``Builder.add_btf``) and
    the result is deduplicated against the base, so that types the modules share
    appear once.  Raises :class:`BTFError` unless all modules are split on the
    same base object.
    """
    from ...format.build import Builder  # noqa: PLC0415 (dedup and the builder are only needed here)
    from ...transforms.dedup import dedup  # noqa: PLC0415

    if not modules:
        raise BTFError("no modules to merge")
    base = modules[0].base
    if base is None or any(m.base is not base for m in modules):
        raise BTFError("modules to merge must all be split on one base BTF")
    builder = Builder(base=base)
    for module in modules:
        builder.add_btf(module)
    merged = builder.btf
    merged.pointer_size = modules[0].pointer_size
    dedup(merged)
    return merged
