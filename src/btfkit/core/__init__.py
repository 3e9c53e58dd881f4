"""CO-RE: resolving a BPF program's relocations against kernels, as libbpf does at load time.

:func:`resolve` answers, for one program and one kernel (and its modules),
what each relocation becomes; :mod:`btfkit.core.program` reads BPF objects,
:mod:`btfkit.core.spec` and :mod:`btfkit.core.match` hold libbpf's rules.
"""

from .program import Program, load_program
from .resolve import Candidate, CoreResult, Relocation, Target, resolve

__all__ = ["Candidate", "CoreResult", "Program", "Relocation", "Target", "load_program", "resolve"]
