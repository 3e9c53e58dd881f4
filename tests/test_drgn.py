"""btfkit's drgn finders against drgn's own DWARF reader on the same kernels.

The oracle is drgn 0.3.0 reading the DWARF of Debian's ``-dbg`` vmlinux; btfkit's finders
read the BTF of the shipped image of the same build (6.1 and 6.12, newest release of
each).  Every named struct, union, enum and typedef, and every function prototype, must
come out of both the same: size, member names, bit offsets, bit-field widths and the
type name of every member, parameter and return type.  Where BTF by design carries less
than DWARF, or drgn's DWARF index answers differently, the case belongs to one of the
classes of :data:`DIFFERENCES`, each checked for what it claims; anything else fails.
"""

from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import drgn
import pytest

import btfkit
from btfkit.format.kinds import Kind
from btfkit.integrations.drgn import ENV_BTF, ENV_KALLSYMS, _Source, attach, drgn_prog_set
from btfkit.integrations.kallsyms import KallsymsError, parse_kallsyms

from .kernel_pairs import LINES, dwarf_program, pair

#: Where the BTF view may differ from drgn's DWARF view, and why.
DIFFERENCES = {
    "arrays": "pahole writes a multi-dimensional array as one array of the product of its "
    "dimensions, and both `T x[0]` and the flexible `T x[]` as 0 elements (read as `[]`)",
    "local-types": "a type declared inside a function body: pahole encodes it, drgn's DWARF "
    "index only knows names at file scope (the look-up by name fails)",
    "asm-functions": "drgn 0.3.0 cannot read the DWARF of assembly functions (return type "
    "DW_TAG_unspecified_type, tag 0x3b: BadDataError)",
    "same-name-functions": "a function name defined more than once (statics of several files, "
    "or one inlined everywhere): drgn's DWARF index answered a definition that is not the one at "
    "the System.map address (System.map lists the name more than once, or DWARF's answer has no "
    "address or another one)",
    "other-static": "a name that differing static functions share, one of them at the address "
    "DWARF gives (pahole 1.24, which made 6.1's BTF, kept one prototype per name; later pahole "
    "drops such names): DWARF's answer is another of them.  Rare: at most a handful per kernel",
    "parameter-order": "the same parameters in another order: drgn takes an out-of-line "
    "instance's parameters in the order GCC emitted them",
    "parameter-names": "the same types under other parameter names: a __weak default (such as "
    "the sys_ni.c stubs' `__unused`) overridden by another definition, both in DWARF",
}

_PREFIX = {Kind.STRUCT: "struct ", Kind.UNION: "union ", Kind.ENUM: "enum ", Kind.ENUM64: "enum ", Kind.TYPEDEF: ""}


def shallow(t: drgn.Type) -> tuple[Any, ...]:
    """A type as far as its own record goes: what it holds and the names of the types it uses."""
    k = t.kind
    if k in (drgn.TypeKind.STRUCT, drgn.TypeKind.UNION):
        if not t.is_complete():
            return (k.name, t.tag)
        members = tuple((m.name, m.bit_offset, m.bit_field_size, m.type.type_name()) for m in t.members)
        return (k.name, t.tag, t.size, members)
    if k == drgn.TypeKind.ENUM:
        if not t.is_complete():
            return (k.name, t.tag)
        enumerators = tuple((e.name, e.value) for e in t.enumerators)
        return (k.name, t.tag, t.type.size, t.type.is_signed, t.type.name, enumerators)
    if k == drgn.TypeKind.TYPEDEF:
        return (k.name, t.name, t.type.type_name())
    if k == drgn.TypeKind.FUNCTION:
        params = tuple((p.name, p.type.type_name()) for p in t.parameters)
        return (k.name, t.type.type_name(), params, t.is_variadic)
    return (k.name, t.type_name())


def _product(match: re.Match[str]) -> str:
    total = 1
    for n in re.findall(r"\[(\d*)\]", match.group(0)):
        total *= int(n) if n else 0
    return f"[{total}]" if total else "[]"


def flat_arrays(value: Any) -> Any:
    """``value`` with every run of array dimensions in a type name as BTF writes it (one product, 0 as [])."""
    if isinstance(value, str):
        return re.sub(r"(\[\d*\])+", _product, value)
    if isinstance(value, tuple):
        return tuple(flat_arrays(v) for v in value)
    return value


def _named(btf: btfkit.BTF, kinds: set[Kind]) -> dict[tuple[str, str], list[int]]:
    """Own types of those kinds by (C prefix, name)."""
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for t in btf.types():
        if t.kind in kinds and t.name:
            groups[(_PREFIX.get(Kind(t.kind), ""), t.name)].append(t.id)
    return groups


_NAMED_TYPES = {Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64, Kind.TYPEDEF}


def compare_named_types(source: _Source, dwarf: drgn.Program) -> Counter[str]:
    """Every named struct, union, enum and typedef of ``source`` against DWARF's type of that name."""
    groups = _named(source.btf, _NAMED_TYPES)
    seen: Counter[str] = Counter()
    unexplained = []
    for (prefix, name), ids in groups.items():
        # A name BTF holds twice (different layouts) matches if DWARF's answer is either.
        mine = {shallow(source.type(i)) for i in ids}
        try:
            theirs = shallow(dwarf.type(prefix + name))
        except LookupError:
            seen["local-types"] += 1
            continue
        if theirs in mine:
            seen["equal"] += 1
        elif flat_arrays(theirs) in {flat_arrays(m) for m in mine}:
            seen["arrays"] += 1
        else:
            unexplained.append((prefix + name, mine, theirs))
    assert set(seen) <= {"equal", *DIFFERENCES}
    assert not unexplained[:5], f"{len(unexplained)} types differ from DWARF"
    assert seen["equal"] > 0.98 * len(groups)
    # Function-local types are rare: many misses would mean a broken look-up, not this class.
    assert seen["local-types"] < len(groups) / 200
    return seen


@pytest.mark.corpus
@pytest.mark.parametrize("line", LINES)
def test_named_types_equal_dwarf(line: str) -> None:
    p = pair(line)
    print(f"{p.release}: {dict(compare_named_types(p.finder.vmlinux, p.dwarf))}")


@pytest.mark.corpus
def test_module_types_equal_dwarf() -> None:
    """A module's split BTF (btrfs, the largest file system module) against its -dbg .ko's DWARF."""
    p = pair(LINES[-1])
    ko = next(m for m in p.image.modules if m.name.split(".")[0] == "btrfs")
    prog = drgn.Program(drgn.host_platform)
    finder = attach(prog, p.btf, modules={"btrfs": ko})
    dwarf = dwarf_program(str(p.debug.modules_dir / ko.relative_to(p.image.modules_dir).parent / "btrfs.ko"))
    source = finder.module("btrfs")
    assert source is not None and source.btf.base is p.btf
    seen = compare_named_types(source, dwarf)
    print(f"btrfs: {dict(seen)}")
    assert seen["equal"] > 500
    # Found by name from the program, and by module name as drgn's filename argument.
    assert shallow(prog.type("struct btrfs_fs_info")) == shallow(source.type(source.ids_named("btrfs_fs_info")[0]))
    assert prog.type("struct btrfs_fs_info", "btrfs").size == dwarf.type("struct btrfs_fs_info").size


@pytest.mark.corpus
@pytest.mark.parametrize("line", LINES)
def test_function_prototypes_equal_dwarf(line: str) -> None:
    p = pair(line)
    listed = Counter(sym.name for sym in p.system_map.symbols)
    seen: Counter[str] = Counter()
    others = []
    for (_, name), ids in _named(p.btf, {Kind.FUNC}).items():
        mine = {shallow(p.finder.vmlinux.type(i)) for i in ids}
        try:
            function = p.dwarf.function(name)
            theirs = shallow(function.type_)
        except drgn.BadDataError as exc:
            assert "0x3b" in str(exc), exc
            seen["asm-functions"] += 1
            continue
        ours = next(iter(mine))
        if theirs in mine:
            seen["equal"] += 1
        elif listed[name] > 1 or function.absent_ or function.address_ != p.system_map.address(name):
            seen["same-name-functions"] += 1
        elif len(mine) == 1 and (ours[1], sorted(ours[2]), ours[3]) == (theirs[1], sorted(theirs[2]), theirs[3]):
            seen["parameter-order"] += 1
        elif len(mine) == 1 and [t for _, t in ours[2]] == [t for _, t in theirs[2]] and ours[1] == theirs[1]:
            seen["parameter-names"] += 1
        else:
            seen["other-static"] += 1
            others.append((name, mine, theirs))
    print(f"{p.release}: {dict(seen)}")
    assert set(seen) <= {"equal", *DIFFERENCES}
    assert len(others) <= 5, others
    assert seen["equal"] > 0.99 * sum(seen.values())


@pytest.mark.corpus
@pytest.mark.parametrize("line", LINES)
def test_objects_at_dwarf_addresses(line: str) -> None:
    """Functions and (per-CPU) variables sit where DWARF puts them, with the same type."""
    p = pair(line)
    listed = Counter(sym.name for sym in p.system_map.symbols)
    addresses = defaultdict(set)
    for sym in p.system_map.symbols:
        addresses[sym.name].add(sym.address)
    checked: Counter[str] = Counter()
    for t in p.btf.types():
        if t.kind not in (Kind.FUNC, Kind.VAR) or listed[t.name] != 1:
            continue  # a name several files define is a different object in each
        try:
            theirs = p.dwarf.object(t.name)
        except drgn.BadDataError:
            continue  # the asm-functions class above
        ours = p.btf_prog.object(t.name)
        assert ours.address_ == p.system_map.address(t.name)
        if theirs.absent_:
            # drgn's DWARF index answered a declaration or an inlined copy: nothing to compare.
            checked["dwarf-absent"] += 1
            continue
        if ours.address_ != theirs.address_:
            # DWARF answered another definition of the name, one System.map does not list
            # (a __weak default the link dropped).
            assert theirs.address_ not in addresses[t.name], t.name
            checked["other-definition"] += 1
            continue
        if t.kind == Kind.VAR:
            assert ours.type_.type_name() == flat_arrays(theirs.type_.type_name()), t.name
        checked[t.kind.name] += 1
    print(f"{p.release}: {dict(checked)}")
    assert checked["FUNC"] > 10_000 and checked["VAR"] > 50
    assert checked["other-definition"] < checked["FUNC"] / 100


@pytest.mark.corpus
@pytest.mark.parametrize("line", LINES)
def test_symbols_agree_with_elf_symtab(line: str) -> None:
    """``prog.symbol(address)`` from System.map names what the ELF symbol table of the DWARF vmlinux names."""
    p = pair(line)
    functions = [s for s in p.system_map.symbols if s.code in "tT" and s.name.isidentifier()]
    for sym in functions[:: max(1, len(functions) // 2000)]:
        ours = p.btf_prog.symbol(sym.address + 1)  # an address inside the function
        assert ours.address == sym.address and ours.kind == drgn.SymbolKind.FUNC
        theirs = [s for s in p.dwarf.symbols(ours.name) if s.address == ours.address]
        assert theirs, ours
    assert p.btf_prog.symbol("schedule").address == p.dwarf.symbol("schedule").address


def test_kallsyms_formats() -> None:
    table = parse_kallsyms(
        "ffffffff81000000 T _stext\n"
        "ffffffff81000010 t helper\n"
        "ffffffff81000020 t helper\n"
        "ffffffff81000030 T helper\n"
        "ffffffffc0000000 t ext4_fill_super\t[ext4]\n"
    )
    assert table.address("helper") == 0xFFFFFFFF81000030  # the global one wins
    assert table.address("ext4_fill_super", "ext4") == 0xFFFFFFFFC0000000
    assert table.address("ext4_fill_super") is None
    sizes = {(s.name, s.address): size for s, size in table.sized()}
    assert sizes[("_stext", 0xFFFFFFFF81000000)] == 0x10
    with pytest.raises(KallsymsError, match="every address is 0"):
        parse_kallsyms("0000000000000000 T _stext\n")
    with pytest.raises(KallsymsError, match="bad address"):
        parse_kallsyms("zzzz T _stext\n")


def test_type_finder_answers_only_kinds_asked(sys_vmlinux: Any) -> None:
    """drgn raises TypeError when a finder returns another kind: a name that is both a struct
    and a typedef (``struct foo``/``foo``) must give each to its own question."""
    prog = drgn.Program(drgn.host_platform)
    attach(prog, sys_vmlinux)
    assert prog.type("struct task_struct").kind == drgn.TypeKind.STRUCT
    assert prog.type("pid_t").kind == drgn.TypeKind.TYPEDEF
    assert prog.type("_Bool").kind == drgn.TypeKind.BOOL
    assert prog.type("unsigned long").name == "unsigned long"  # BTF says "long unsigned int"
    with pytest.raises(LookupError):
        prog.type("union task_struct")


def test_plugin_hook_ignores_user_space_programs() -> None:
    prog = drgn.Program(drgn.host_platform)
    drgn_prog_set(prog)
    assert "btfkit" not in prog.registered_debug_info_finders()


def _fake_vmcore(path: Path, release: str) -> None:
    """A kernel core with nothing but a VMCOREINFO note naming ``release`` (drgn wants no more
    to treat it as a Linux kernel and look for its debug info: memory reads would fail)."""
    text = f"OSRELEASE={release}\nPAGESIZE=4096\nKERNELOFFSET=0\nSYMBOL(swapper_pg_dir)=ffffffff82a0a000\n"
    name, desc = b"VMCOREINFO\0", text.encode()
    note = struct.pack("<III", len(name), len(desc), 0)
    note += name + b"\0" * (-len(name) % 4) + desc + b"\0" * (-len(desc) % 4)
    ehdr = b"\x7fELF\x02\x01\x01" + b"\0" * 9  # 64-bit, little-endian, version 1
    ehdr += struct.pack("<HHIQQQIHHHHHH", 4, 62, 1, 0, 64, 0, 0, 64, 56, 1, 0, 0, 0)  # ET_CORE, x86-64
    phdr = struct.pack("<IIQQQQQQ", 4, 0, 64 + 56, 0, 0, len(note), len(note), 4)  # PT_NOTE
    path.write_bytes(ehdr + phdr + note)


@pytest.mark.corpus
def test_drgn_cli_uses_btf_when_no_dwarf(tmp_path: Path) -> None:
    """The plugin entry point: ``drgn -c`` on a kernel core with no DWARF anywhere gets its types,
    objects and symbols from btfkit, with no missing-debug-info warning."""
    p = pair(LINES[-1])
    core = tmp_path / "vmcore"
    _fake_vmcore(core, p.release)
    env = {**os.environ, ENV_BTF: str(p.image.vmlinux), ENV_KALLSYMS: str(p.debug.system_map)}
    code = "print(prog.type('struct task_struct').size, prog['schedule'].address_, prog.symbol('schedule').address)"
    drgn_cli = Path(sys.executable).parent / "drgn"
    done = subprocess.run([str(drgn_cli), "-c", str(core), "-e", code], env=env, capture_output=True, text=True,
                          timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "missing" not in done.stderr, done.stderr
    schedule = p.dwarf.function("schedule").address_
    assert done.stdout.split() == [str(p.dwarf.type("struct task_struct").size), str(schedule), str(schedule)]
