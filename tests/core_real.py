"""Real CO-RE programs, not written by us: the BPF objects Debian's ``libbpf-tools`` ships.

Each tool of bcc's libbpf-tools (``biosnoop``, ``execsnoop``, ``tcpconnect``...) is
built by its upstream with a generated ``vmlinux.h`` and carries its compiled BPF object
inside the executable, as a libbpf skeleton: the ELF image of the object, byte for byte,
in ``.rodata``.  Those images are cut out of the executables (an ELF header whose machine
is BPF, up to the end of its section header table) into
``$BTFKIT_CORPUS/core-real/<package file>/<tool>.bpf.o``.
"""

from __future__ import annotations

import struct
from functools import cache
from pathlib import Path

from .conftest import require
from .debian_kernels import cache_root, unpacked
from .kernel_source import _locked_build

PACKAGE = "libbpf-tools"
_EM_BPF = 247


def embedded_objects(image: bytes) -> list[bytes]:
    """The little-endian 64-bit BPF ELF objects embedded in ``image`` (after its own header)."""
    found = []
    start = image.find(b"\x7fELF", 1)
    while start != -1:
        header = image[start : start + 64]
        if len(header) == 64 and header[4] == 2 and header[5] == 1:  # ELFCLASS64, little-endian
            (machine,) = struct.unpack_from("<H", header, 18)
            (section_headers,) = struct.unpack_from("<Q", header, 40)
            entry_size, count = struct.unpack_from("<HH", header, 58)
            if machine == _EM_BPF:
                found.append(image[start : start + section_headers + entry_size * count])
        start = image.find(b"\x7fELF", start + 1)
    return found


@cache
def programs() -> list[Path]:
    """Every libbpf-tools program as a ``.bpf.o`` file, sorted by name (extracted once)."""
    root = unpacked(PACKAGE)
    out = cache_root() / "core-real" / root.name

    def extract() -> None:
        out.mkdir(parents=True, exist_ok=True)
        for tool in sorted((root / "usr/sbin").iterdir()):
            objects = embedded_objects(tool.read_bytes())
            if len(objects) == 1:
                (out / f"{tool.name}.bpf.o").write_bytes(objects[0])

    _locked_build(out / ".extracted", extract)
    found = sorted(out.glob("*.bpf.o"))
    require(len(found) >= 20, f"{PACKAGE}: only {len(found)} embedded BPF objects found")
    return found
