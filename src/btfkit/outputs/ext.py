"""``btfkit dump --ext``: a BPF object's ``.BTF.ext`` in words.

Per code section: each function (from func_info), each source line with its
text (from line_info), and each CO-RE relocation with its path through the
local types, e.g.::

    section 'kprobe/do_exit'
      func info (record size 8)
        insn 0: func [12] handle_exit
      line info (record size 16)
        insn 0: prog.c:20:0  int handle_exit(struct pt_regs *ctx)
      CO-RE relocations (record size 16)
        insn 12: field_byte_offset struct task_struct.se.load.weight (0:52:3:0)

Instruction numbers are instruction indexes within the section.
"""

from __future__ import annotations

from typing import IO

from ..core.spec import describe
from ..format.btf import BTF
from ..format.ext import BTFExt, CoreRelo, CoreReloKind, FuncInfo, LineInfo

__all__ = ["dump_ext", "ext_lines"]


def _str(btf: BTF, off: int) -> str:
    return btf.str_at(off) if 0 <= off < btf.strings.end else f"<bad string offset {off}>"


def _record(btf: BTF, rec: FuncInfo | LineInfo | CoreRelo) -> str:
    where = f"insn {rec.insn_off // 8}" if rec.insn_off % 8 == 0 else f"byte {rec.insn_off}"
    if isinstance(rec, FuncInfo):
        name = btf.name_of(rec.type_id) if rec.type_id in btf else "<bad type id>"
        return f"{where}: func [{rec.type_id}] {name}"
    if isinstance(rec, LineInfo):
        source = _str(btf, rec.line_off).strip()
        return f"{where}: {_str(btf, rec.file_name_off)}:{rec.line}:{rec.column}  {source}".rstrip()
    if rec.kind not in CoreReloKind._value2member_map_:
        return f"{where}: unknown relocation kind {rec.kind} on [{rec.type_id}] ({_str(btf, rec.access_str_off)})"
    kind = CoreReloKind(rec.kind)
    if rec.type_id not in btf:
        return f"{where}: {kind.label} [{rec.type_id}] <bad type id> ({_str(btf, rec.access_str_off)})"
    return f"{where}: {kind.label} {describe(btf, rec.type_id, _str(btf, rec.access_str_off), kind)}"


def ext_lines(btf: BTF, ext: BTFExt) -> list[str]:
    """The readable text of ``ext`` (whose strings are in ``btf``), one line per entry."""
    titles = {"func_info": "func info", "line_info": "line info", "core_relo": "CO-RE relocations"}
    by_section: dict[str, list[tuple[str, int, list[FuncInfo] | list[LineInfo] | list[CoreRelo]]]] = {}
    for block_name, block in ext.blocks():
        for sec in block.sections:
            by_section.setdefault(_str(btf, sec.name_off), []).append((block_name, block.rec_size, sec.records))
    out = []
    for section, blocks in by_section.items():
        out.append(f"section '{section}'")
        for block_name, rec_size, records in blocks:
            out.append(f"  {titles[block_name]} (record size {rec_size})")
            out.extend(f"    {_record(btf, rec)}" for rec in records)
    return out


def dump_ext(btf: BTF, ext: BTFExt, out: IO[bytes]) -> None:
    """Write :func:`ext_lines` to a binary stream."""
    text = "".join(line + "\n" for line in ext_lines(btf, ext))
    out.write(text.encode("utf-8", "surrogateescape"))
