"""A Debian kernel seen two ways: drgn on its DWARF (the -dbg package) and btfkit on its BTF (the image).

Both views come from the same build: the ``-dbg`` package's vmlinux carries the DWARF
that pahole turned into the ``.BTF`` of the shipped image, and its ``System.map`` the
link addresses.  :func:`pair` picks the newest release of a kernel line at run time and
keeps the loaded programs for every test of the session.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import drgn

import btfkit
from btfkit.integrations.drgn import BTFFinder, attach
from btfkit.integrations.kallsyms import Kallsyms, load_kallsyms

from .debian_kernels import DebugPackage, KernelImage, debug, image, releases

#: The kernel lines the suite checks (the newest release of each, resolved at run time).
LINES = ("6.1", "6.12")


@dataclass
class KernelPair:
    release: str
    debug: DebugPackage
    image: KernelImage
    btf: btfkit.BTF
    system_map: Kallsyms
    #: drgn on the DWARF vmlinux (no core: types, and objects at link addresses).
    dwarf: drgn.Program
    #: drgn with btfkit's finders on the image's BTF and the System.map.
    btf_prog: drgn.Program
    finder: BTFFinder


def dwarf_program(vmlinux: str) -> drgn.Program:
    """drgn reading a vmlinux's DWARF without a core (``load_debug_info`` would ignore the file)."""
    prog = drgn.Program(drgn.host_platform)
    prog.extra_module(vmlinux, create=True).try_file(vmlinux, force=True)
    return prog


@cache
def pair(line: str) -> KernelPair:
    """The newest release of ``line`` with its -dbg package, both loaded."""
    release = releases(line)[-1]
    dbg, img = debug(release), image(release)
    btf = btfkit.load(img.vmlinux)
    system_map = load_kallsyms(dbg.system_map)
    btf_prog = drgn.Program(drgn.host_platform)
    finder = attach(btf_prog, btf, system_map)
    return KernelPair(release, dbg, img, btf, system_map, dwarf_program(str(dbg.vmlinux)), btf_prog, finder)
