"""Which instructions of a relocated program the verifier would reach.

A relocation that finds no target *poisons* its instruction (a call to a helper
that does not exist).  Whether the program then fails to load depends on
whether that instruction can run: programs guard such accesses with
``bpf_core_field_exists()`` and friends, whose relocated constants make the
guarded branch dead, and the verifier never walks dead branches.

This module follows the same idea on a small scale: a walk over the program's
paths that tracks registers holding constants (``mov``/``ld_imm64`` of an
immediate, and simple arithmetic on them), takes only the feasible side of a
conditional jump whose operands are both known, and explores both sides
otherwise.  It is deliberately conservative: anything it does not model makes a
register unknown, which can only make more code reachable.
"""

from __future__ import annotations

from collections.abc import Callable

from .program import Insn

__all__ = ["reachable"]

_U64 = (1 << 64) - 1
_U32 = 0xFFFFFFFF
_LD, _LDX, _ST, _STX, _ALU, _JMP, _JMP32, _ALU64 = range(8)
_LDIMM64 = 0x18
_MAX_STATES = 200_000

Regs = tuple[int | None, ...]


def _s64(v: int) -> int:
    return v - (1 << 64) if v >> 63 else v


def _s32(v: int) -> int:
    v &= _U32
    return v - (1 << 32) if v >> 31 else v


_ALU_OPS: dict[int, Callable[[int, int], int | None]] = {
    0x00: lambda a, b: a + b,
    0x10: lambda a, b: a - b,
    0x20: lambda a, b: a * b,
    0x40: lambda a, b: a | b,
    0x50: lambda a, b: a & b,
    0x60: lambda a, b: a << (b & 63),
    0x70: lambda a, b: a >> (b & 63),
    0xA0: lambda a, b: a ^ b,
    0xB0: lambda a, b: b,  # mov
}

_JUMPS: dict[int, Callable[[int, int, int, int], bool]] = {
    # (unsigned a, unsigned b, signed a, signed b) -> taken
    0x10: lambda a, b, sa, sb: a == b,
    0x20: lambda a, b, sa, sb: a > b,
    0x30: lambda a, b, sa, sb: a >= b,
    0x40: lambda a, b, sa, sb: bool(a & b),
    0x50: lambda a, b, sa, sb: a != b,
    0x60: lambda a, b, sa, sb: sa > sb,
    0x70: lambda a, b, sa, sb: sa >= sb,
    0xA0: lambda a, b, sa, sb: a < b,
    0xB0: lambda a, b, sa, sb: a <= b,
    0xC0: lambda a, b, sa, sb: sa < sb,
    0xD0: lambda a, b, sa, sb: sa <= sb,
}


def _set(regs: Regs, r: int, v: int | None) -> Regs:
    if r > 10:
        return regs
    out = list(regs)
    out[r] = v
    return tuple(out)


def reachable(insns: list[Insn], start: int = 0) -> set[int] | None:
    """Indexes of ``insns`` some path from ``start`` reaches (None: too many paths to tell).

    ``insns`` is one program's code as it stands after relocation (subprogram
    calls are followed within the list).
    """
    seen_states: set[tuple[int, Regs]] = set()
    reached: set[int] = set()
    unknown: Regs = (None,) * 11
    work: list[tuple[int, Regs]] = [(start, unknown)]
    while work:
        pc, regs = work.pop()
        while 0 <= pc < len(insns):
            if (pc, regs) in seen_states:
                break
            if len(seen_states) >= _MAX_STATES:
                return None
            seen_states.add((pc, regs))
            reached.add(pc)
            insn = insns[pc]
            cls, op = insn.cls, insn.code & 0xF0
            if insn.code == _LDIMM64:
                reached.add(pc + 1)
                if pc + 1 < len(insns):
                    value = (insn.imm & _U32) | ((insns[pc + 1].imm & _U32) << 32)
                    regs = _set(regs, insn.dst, value if insn.src == 0 else None)
                pc += 2
                continue
            if cls in (_ALU, _ALU64):
                fn = _ALU_OPS.get(op)
                b = (insn.imm & _U64) if not insn.code & 0x08 else regs[insn.src] if insn.src <= 10 else None
                a = regs[insn.dst] if insn.dst <= 10 else None
                if fn is None or b is None or (a is None and op != 0xB0):
                    regs = _set(regs, insn.dst, None)
                else:
                    mask = _U64 if cls == _ALU64 else _U32
                    result = fn((a or 0) & mask, b & mask)
                    regs = _set(regs, insn.dst, None if result is None else result & mask)
            elif cls == _LDX:
                regs = _set(regs, insn.dst, None)
            elif cls == _STX and insn.code & 0xE0 == 0xC0:  # atomic: may write a register
                regs = _set(_set(regs, insn.src, None), 0, None)
            elif cls in (_JMP, _JMP32):
                if op == 0x90:  # exit
                    break
                if op == 0x80:  # call
                    if insn.src == 1:  # a subprogram: its body runs too
                        work.append((pc + insn.imm + 1, unknown))
                    for r in range(6):
                        regs = _set(regs, r, None)
                    pc += 1
                    continue
                if op == 0x00:  # ja
                    pc += 1 + (insn.imm if cls == _JMP32 else insn.off)
                    continue
                test = _JUMPS.get(op)
                a = regs[insn.dst] if insn.dst <= 10 else None
                b = (insn.imm & _U64) if not insn.code & 0x08 else regs[insn.src] if insn.src <= 10 else None
                if test is None or a is None or b is None:
                    work.append((pc + 1 + insn.off, regs))
                else:
                    if cls == _JMP32:
                        a, b = a & _U32, b & _U32
                        taken = test(a, b, _s32(a), _s32(b))
                    else:
                        b &= _U64
                        taken = test(a, b, _s64(a), _s64(b))
                    if taken:
                        pc += 1 + insn.off
                        continue
            pc += 1
    return reached
