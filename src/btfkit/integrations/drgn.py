"""BTF as drgn's type source: type, object and symbol finders, and a drgn plugin.

drgn (the programmable debugger) reads types from DWARF, which a kernel often lacks;
every kernel built with BTF carries its own types.  :func:`attach` registers three
finders on a :class:`drgn.Program`:

- types: every BTF kind as the drgn type a DWARF reader would make of the same C
  (structs with bit fields and anonymous members, enums with their signedness,
  function types, typedefs, qualifiers, arrays of unknown size), from vmlinux and
  the modules' split BTF.  Nothing is converted up front: a name is looked up in the
  string section, and a struct's members and a function's parameters are drgn lazy
  types, converted when first used, each type once;
- objects: functions (typed by their FUNC_PROTO) and variables (the VARs of the
  DATASECs) at their addresses from kallsyms, and enumerators as constants;
- symbols: the kallsyms table, for ``prog.symbol(address)``.

As a drgn plugin (the ``drgn.plugins`` entry point ``btfkit``), :func:`drgn_prog_set`
adds a debug-info finder, last in line, that attaches the kernel's BTF when no DWARF
was found for vmlinux.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial

import drgn

from ..errors import BTFError
from ..format.btf import BTF, Type
from ..format.kinds import IntEncoding, Kind
from ..format.reader import load
from .kallsyms import Kallsyms, load_kallsyms

SYSFS_BTF = "/sys/kernel/btf"

_QUALIFIERS = {
    Kind.CONST: drgn.Qualifiers.CONST,
    Kind.VOLATILE: drgn.Qualifiers.VOLATILE,
    Kind.RESTRICT: drgn.Qualifiers.RESTRICT,
}
# The C spelling drgn gives an integer of each size and signedness (an enum's compatible type).
_INT_NAMES = {
    (1, False): "unsigned char", (1, True): "signed char",
    (2, False): "unsigned short", (2, True): "short",
    (4, False): "unsigned int", (4, True): "int",
    (8, False): "unsigned long", (8, True): "long",
}  # fmt: skip


def _drgn_kind(t: Type) -> drgn.TypeKind | None:
    """The drgn kind a named BTF record answers for (None for kinds that are not named types)."""
    k = t.kind
    if k == Kind.INT:
        return drgn.TypeKind.BOOL if t.encoding & IntEncoding.BOOL else drgn.TypeKind.INT
    if k == Kind.FWD:
        return drgn.TypeKind.UNION if t.kind_flag else drgn.TypeKind.STRUCT
    return _NAMED_KINDS.get(k)


_NAMED_KINDS: dict[int, drgn.TypeKind] = {
    Kind.STRUCT: drgn.TypeKind.STRUCT,
    Kind.UNION: drgn.TypeKind.UNION,
    Kind.ENUM: drgn.TypeKind.ENUM,
    Kind.ENUM64: drgn.TypeKind.ENUM,
    Kind.TYPEDEF: drgn.TypeKind.TYPEDEF,
    Kind.FLOAT: drgn.TypeKind.FLOAT,
}
#: Name look-ups by scanning before the name index is built.
_SCANS_BEFORE_INDEX = 200
_PRIMITIVE_KINDS = frozenset({drgn.TypeKind.INT, drgn.TypeKind.BOOL, drgn.TypeKind.FLOAT})


def _is_incomplete(t: Type) -> bool:
    return t.kind == Kind.FWD or (t.kind in (Kind.ENUM, Kind.ENUM64) and t.vlen == 0)


class _Source:
    """One BTF (vmlinux, or a module's split BTF on top of it) and the drgn types made from it.

    Types of the base are asked of the base's source, so vmlinux types are made once
    for every module.
    """

    def __init__(self, prog: drgn.Program, btf: BTF, base: _Source | None, module: str):
        self.prog = prog
        self.btf = btf
        self.base = base
        self.module = module
        self._cache: dict[int, drgn.Type] = {}
        self._strings: bytes | None = None
        self._scans = 0
        self._index: dict[str, list[int]] | None = None
        self._name_offs: list[int] | None = None
        self._enumerators: dict[str, tuple[int, int]] | None = None
        self._byteorder = btf.byteorder
        self._pointer_size = btf.pointer_size

    # --- names ----------------------------------------------------------------
    def ids_named(self, name: str) -> list[int]:
        """The own type IDs whose name is ``name``, in ID order.

        The first look-ups find the whole string in the string section (a NUL on each
        side), then the records naming that offset: milliseconds each, with no index of
        every name (decoding every name takes a third of a second).  After
        :data:`_SCANS_BEFORE_INDEX` look-ups (a script walking many names) the index is
        built once and used from then on.
        """
        if self._index is not None:
            return self._index.get(name, [])
        if self._strings is None:
            # A leading NUL makes the first own string findable the same way as the rest.
            self._strings = b"\0" + bytes(self.btf.strings.data)
            words = self.btf.words
            self._name_offs = [words[w] for w in self.btf.offsets]
        assert self._name_offs is not None
        self._scans += 1
        if self._scans > _SCANS_BEFORE_INDEX:
            self._index = self._build_index()
            return self._index.get(name, [])
        needle = b"\0" + name.encode("utf-8", "surrogateescape") + b"\0"
        strings, offs, start = self._strings, self._name_offs, self.btf.strings.start
        found = []
        at = strings.find(needle)
        while at >= 0:
            # Byte ``at + 1`` of the prefixed copy is own byte ``at``.
            offset = start + at
            i = -1
            while True:
                try:
                    i = offs.index(offset, i + 1)
                except ValueError:
                    break
                found.append(self.btf.start_id + i)
            at = strings.find(needle, at + 1)
        return sorted(found)

    def _build_index(self) -> dict[str, list[int]]:
        assert self._strings is not None and self._name_offs is not None
        start = self.btf.strings.start
        text_at: dict[int, str] = {}
        pos = start
        for piece in self._strings[1:].split(b"\0"):
            text_at[pos] = piece.decode("utf-8", "surrogateescape")
            pos += len(piece) + 1
        index: dict[str, list[int]] = {}
        get = self.btf.strings.get  # for an offset into the middle of a string (allowed, rare)
        for i, off in enumerate(self._name_offs, self.btf.start_id):
            if off:
                text = text_at.get(off)
                index.setdefault(get(off) if text is None else text, []).append(i)
        return index

    def find(self, kinds: drgn.TypeKindSet, name: str) -> drgn.Type | None:
        """A named type of one of ``kinds`` among the own types; complete ones first."""
        fallback = None
        for tid in self.ids_named(name):
            t = self.btf[tid]
            if _drgn_kind(t) in kinds:
                if not _is_incomplete(t):
                    return self.type(tid)
                if fallback is None:
                    fallback = tid
        return self.type(fallback) if fallback is not None else None

    def enumerator(self, name: str) -> tuple[int, int] | None:
        """(enum type ID, value) of an enumerator named ``name``, by one scan of the enums on first use."""
        if self._enumerators is None:
            index: dict[str, tuple[int, int]] = {}
            for t in self.btf.types():
                if t.kind in (Kind.ENUM, Kind.ENUM64):
                    for v in t.values:
                        index.setdefault(v.name, (t.id, v.value))
            self._enumerators = index
        return self._enumerators.get(name)

    # --- conversion ---------------------------------------------------------------
    def type(self, tid: int) -> drgn.Type:
        """The drgn type of BTF type ``tid`` (made once, then cached)."""
        if tid < self.btf.start_id and self.base is not None:
            return self.base.type(tid)
        found = self._cache.get(tid)
        if found is None:
            found = self._cache[tid] = self._convert(tid)
        return found

    def _lazy(self, tid: int) -> Callable[[], drgn.Type]:
        return partial(self.type, tid)

    def _bit_field(self, tid: int, bits: int) -> drgn.Object:
        # drgn keeps a bit field's width on the member's (absent) object.
        return drgn.Object(self.prog, self.type(tid), bit_field_size=bits)

    def _lazy_bit_field(self, tid: int, bits: int) -> Callable[[], drgn.Object]:
        return partial(self._bit_field, tid, bits)

    def _convert(self, tid: int) -> drgn.Type:
        prog = self.prog
        if tid == 0:
            return prog.void_type(language=drgn.Language.C)
        t = self.btf[tid]
        k = t.kind
        name = t.name or None
        c = drgn.Language.C
        if k == Kind.INT:
            if t.encoding & IntEncoding.BOOL:
                return prog.bool_type(t.name, t.size, self._byteorder, language=c)
            signed = bool(t.encoding & IntEncoding.SIGNED)
            return prog.int_type(t.name, t.size, signed, self._byteorder, language=c)
        if k == Kind.FLOAT:
            return prog.float_type(t.name, t.size, self._byteorder, language=c)
        if k == Kind.PTR:
            return prog.pointer_type(self.type(t.type_id), self._pointer_size, self._byteorder, language=c)
        if k == Kind.ARRAY:
            arr = t.array
            # BTF writes both ``T x[]`` and ``T x[0]`` as 0 elements; the flexible array is the common C.
            return prog.array_type(self.type(arr.type_id), arr.nelems or None, language=c)
        if k in (Kind.STRUCT, Kind.UNION):
            members = [
                drgn.TypeMember(
                    self._lazy_bit_field(m.type_id, m.bitfield_size) if m.bitfield_size else self._lazy(m.type_id),
                    m.name or None,
                    m.bit_offset,
                )
                for m in t.members
            ]
            make = prog.struct_type if k == Kind.STRUCT else prog.union_type
            return make(name, t.size, members, language=c)
        if k == Kind.FWD:
            make = prog.union_type if t.kind_flag else prog.struct_type
            return make(name, language=c)
        if k in (Kind.ENUM, Kind.ENUM64):
            if t.vlen == 0:
                return prog.enum_type(name, language=c)
            signed = t.kind_flag or any(v.value < 0 for v in t.values)
            compatible = prog.int_type(_INT_NAMES.get((t.size, signed), "int"), t.size, signed,
                                       self._byteorder, language=c)  # fmt: skip
            enumerators = [drgn.TypeEnumerator(v.name, v.value) for v in t.values]
            return prog.enum_type(name, compatible, enumerators, language=c)
        if k == Kind.TYPEDEF:
            return prog.typedef_type(t.name, self.type(t.type_id), language=c)
        if k in _QUALIFIERS:
            inner = self.type(t.type_id)
            return inner.qualified(inner.qualifiers | _QUALIFIERS[Kind(k)])
        if k in (Kind.TYPE_TAG, Kind.FUNC, Kind.VAR, Kind.DECL_TAG):
            # A type tag qualifies nothing drgn models; a FUNC or VAR is typed by what it names.
            return self.type(t.type_id)
        if k == Kind.FUNC_PROTO:
            params = list(t.params)
            variadic = bool(params) and params[-1].type_id == 0 and not params[-1].name
            if variadic:
                params.pop()
            return prog.function_type(
                self.type(t.type_id),
                [drgn.TypeParameter(self._lazy(p.type_id), p.name or None) for p in params],
                variadic,
                language=c,
            )
        raise BTFError(f"type [{tid}]: {t.spec.label} is not a C type drgn can hold")


class BTFFinder:
    """The finders :func:`attach` registers: vmlinux BTF, modules' BTF (loaded on first need), kallsyms."""

    def __init__(
        self,
        prog: drgn.Program,
        btf: BTF,
        kallsyms: Kallsyms | None = None,
        modules: Mapping[str, BTF | str | os.PathLike[str]] | None = None,
    ):
        self.prog = prog
        self.vmlinux = _Source(prog, btf, None, "")
        self.kallsyms = kallsyms
        self._module_inputs = dict(modules or {})
        self._modules: dict[str, _Source] = {}
        self._symbols: drgn.SymbolIndex | None = None

    def module(self, name: str) -> _Source | None:
        """The source for module ``name`` (its split BTF read on first use), None if unknown."""
        found = self._modules.get(name)
        if found is None:
            given = self._module_inputs.get(name)
            if given is None:
                return None
            btf = given if isinstance(given, BTF) else load(given, base=self.vmlinux.btf)
            found = self._modules[name] = _Source(self.prog, btf, self.vmlinux, name)
        return found

    def _sources(self, filename: str | None, primitive: bool) -> Iterator[_Source]:
        """Where to look: a module asked for by name, else vmlinux then every module.

        drgn's ``filename`` names a source file; BTF knows none, so only a module's name
        narrows the search and any other file name is ignored.

        Base types (integers, floats) live in vmlinux: a miss there (drgn tries each
        spelling of ``unsigned long``) never makes the modules' BTF load.
        """
        if filename is not None and filename in self._module_inputs:
            source = self.module(filename)
            if source is not None:
                yield source
            return
        yield self.vmlinux
        if not primitive:
            for name in self._module_inputs:
                source = self.module(name)
                if source is not None:
                    yield source

    # --- the drgn callbacks -----------------------------------------------------------
    def find_type(
        self, prog: drgn.Program, kinds: drgn.TypeKindSet, name: str, filename: str | None
    ) -> drgn.Type | None:
        """drgn type finder: a named type of one of ``kinds`` (``filename`` may name a module)."""
        primitive = all(k in _PRIMITIVE_KINDS for k in kinds)
        for source in self._sources(filename, primitive):
            found = source.find(kinds, name)
            if found is not None:
                return found
        return None

    def find_object(
        self, prog: drgn.Program, name: str, flags: drgn.FindObjectFlags, filename: str | None
    ) -> drgn.Object | None:
        """drgn object finder: functions and variables at their kallsyms addresses, enumerators as constants."""
        wanted = []
        if flags & drgn.FindObjectFlags.FUNCTION:
            wanted.append(Kind.FUNC)
        if flags & drgn.FindObjectFlags.VARIABLE:
            wanted.append(Kind.VAR)
        for source in self._sources(filename, False):
            for tid in source.ids_named(name):
                if source.btf.kind_of(tid) in wanted:
                    return self._at_address(source, tid, name)
            if flags & drgn.FindObjectFlags.CONSTANT:
                found = source.enumerator(name)
                if found is not None:
                    return drgn.Object(prog, source.type(found[0]), found[1])
        return None

    def _at_address(self, source: _Source, tid: int, name: str) -> drgn.Object:
        """The function or variable ``tid``, at its kallsyms address (absent when unknown)."""
        t = source.type(tid)
        address = self.kallsyms.address(name, source.module) if self.kallsyms is not None else None
        if address is None:
            return drgn.Object(self.prog, t)
        return drgn.Object(self.prog, t, address=address)

    def find_symbols(
        self, prog: drgn.Program, name: str | None, address: int | None, one: bool
    ) -> Sequence[drgn.Symbol]:
        """drgn symbol finder over kallsyms (indexed on first use)."""
        if self.kallsyms is None:
            return []
        if self._symbols is None:
            self._symbols = drgn.SymbolIndex(
                drgn.Symbol(sym.name, sym.address, size, *_binding_kind(sym.code))
                for sym, size in self.kallsyms.sized()
            )
        result: Sequence[drgn.Symbol] = self._symbols(prog, name, address, one)
        return result


def _binding_kind(code: str) -> tuple[drgn.SymbolBinding, drgn.SymbolKind]:
    """Binding and kind of an nm type letter, as drgn's own kallsyms reader reads them."""
    binding = drgn.SymbolBinding.UNKNOWN
    kind = drgn.SymbolKind.UNKNOWN
    if code in "vVwW":
        binding = drgn.SymbolBinding.WEAK
        if code in "vV":
            kind = drgn.SymbolKind.OBJECT
    elif code in "tT":
        kind = drgn.SymbolKind.FUNC
    elif code.lower() in "srbgncd":
        kind = drgn.SymbolKind.OBJECT
    if binding == drgn.SymbolBinding.UNKNOWN and code.isupper():
        binding = drgn.SymbolBinding.GLOBAL
    elif binding == drgn.SymbolBinding.UNKNOWN:
        binding = drgn.SymbolBinding.LOCAL
    return binding, kind


def sysfs_modules() -> dict[str, str]:
    """The loaded modules' BTF files under ``/sys/kernel/btf`` (name -> path)."""
    try:
        names = os.listdir(SYSFS_BTF)
    except OSError:
        return {}
    return {n: os.path.join(SYSFS_BTF, n) for n in sorted(names) if n != "vmlinux"}


def attach(
    prog: drgn.Program,
    btf: BTF | str | os.PathLike[str],
    kallsyms: Kallsyms | str | os.PathLike[str] | None = None,
    *,
    modules: Mapping[str, BTF | str | os.PathLike[str]] | None = None,
) -> BTFFinder:
    """Make ``prog`` find types, objects and symbols in BTF and kallsyms.

    ``btf`` is vmlinux's BTF or a file holding it (``/sys/kernel/btf/vmlinux``, a vmlinux
    or vmlinuz).  ``kallsyms`` (``/proc/kallsyms``, a saved copy, ``System.map``) gives
    functions and variables their addresses and ``prog.symbol()`` its answers.
    ``modules`` maps module names to their split BTF (files are read on first need);
    by default the loaded modules' BTF when ``btf`` is the running kernel's.  The
    finders come after any already registered (DWARF first, when there is some).
    """
    if modules is None and not isinstance(btf, BTF) and os.path.normpath(os.fspath(btf)) == os.path.join(
        SYSFS_BTF, "vmlinux"
    ):
        modules = sysfs_modules()
    vmlinux = btf if isinstance(btf, BTF) else load(btf)
    table = kallsyms if kallsyms is None or isinstance(kallsyms, Kallsyms) else load_kallsyms(kallsyms)
    finder = BTFFinder(prog, vmlinux, table, modules)
    prog.register_type_finder("btfkit", finder.find_type, enable_index=-1)
    prog.register_object_finder("btfkit", finder.find_object, enable_index=-1)
    if table is not None:
        prog.register_symbol_finder("btfkit", finder.find_symbols, enable_index=-1)
    return finder


# --- the drgn plugin --------------------------------------------------------------------
#: Environment variables naming the BTF and symbol table for the plugin (else found by release).
ENV_BTF = "BTFKIT_DRGN_BTF"
ENV_KALLSYMS = "BTFKIT_DRGN_KALLSYMS"


def _kernel_files(prog: drgn.Program) -> tuple[str | None, str | None]:
    """The BTF file and symbol table for the kernel ``prog`` debugs: from the environment,
    the running kernel's (when ``prog`` is it), or the usual places for its release."""
    btf, syms = os.environ.get(ENV_BTF), os.environ.get(ENV_KALLSYMS)
    live = drgn.ProgramFlags.IS_LIVE | drgn.ProgramFlags.IS_LOCAL
    if prog.flags & live == live:
        btf = btf or os.path.join(SYSFS_BTF, "vmlinux")
        syms = syms or "/proc/kallsyms"
    release = prog["UTS_RELEASE"].string_().decode()
    for candidate in (f"/boot/vmlinux-{release}", f"/lib/modules/{release}/build/vmlinux",
                      f"/usr/lib/debug/boot/vmlinux-{release}", f"/boot/vmlinuz-{release}"):  # fmt: skip
        if btf is None and os.path.exists(candidate):
            btf = candidate
    if syms is None and os.path.exists(f"/boot/System.map-{release}"):
        syms = f"/boot/System.map-{release}"
    return btf, syms


def _debug_info_finder(modules: list[drgn.Module]) -> None:
    """drgn debug-info finder, last in line: vmlinux's BTF when no finder before found DWARF."""
    for module in modules:
        if not isinstance(module, drgn.MainModule) or not module.wants_debug_file():
            continue
        prog = module.prog
        if "btfkit" in prog.registered_type_finders():
            continue
        btf, syms = _kernel_files(prog)
        if btf is None:
            continue
        attach(prog, btf, syms)
        # The types are there now: drgn need not report vmlinux's debug info as missing.
        module.debug_file_status = drgn.ModuleFileStatus.DONT_NEED


def drgn_prog_set(prog: drgn.Program) -> None:
    """drgn plugin hook: for a Linux kernel, add the BTF debug-info finder after the others."""
    if prog.flags & drgn.ProgramFlags.IS_LINUX_KERNEL:
        prog.register_debug_info_finder("btfkit", _debug_info_finder, enable_index=-1)


__all__ = ["BTFFinder", "attach", "drgn_prog_set", "sysfs_modules"]
