"""libbpf 1.5 as the CO-RE oracle: open a BPF object against a custom target BTF, load it, read the log.

libbpf resolves CO-RE relocations inside ``bpf_object__load``, before it asks
the kernel for anything program-specific, and logs each decision at debug
level.  The log is captured through ``libbpf_set_print`` (a ctypes callback
given a ``va_list``, formatted with libc's ``vsnprintf``) and parsed into one
record per relocation.  Only tests and benchmarks use this.
"""

from __future__ import annotations

import ctypes
import re
import threading
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from .conftest import require
from .kernel_source import libbpf_path

_P = ctypes.c_void_p
_PRINT_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)


class OpenOpts(ctypes.Structure):
    """``struct bpf_object_open_opts`` of libbpf 1.5."""

    _fields_ = [
        ("sz", ctypes.c_size_t),
        ("object_name", ctypes.c_char_p),
        ("relaxed_maps", ctypes.c_bool),
        ("pin_root_path", ctypes.c_char_p),
        ("_attach_prog_fd", ctypes.c_uint32),
        ("kconfig", ctypes.c_char_p),
        ("btf_custom_path", ctypes.c_char_p),
        ("kernel_log_buf", ctypes.c_char_p),
        ("kernel_log_size", ctypes.c_size_t),
        ("kernel_log_level", ctypes.c_uint32),
        ("bpf_token_path", ctypes.c_char_p),
    ]


@cache
def _lib() -> tuple[ctypes.CDLL, ctypes.CDLL]:
    lib = ctypes.CDLL(str(libbpf_path()))
    lib.bpf_object__open_file.restype = _P
    lib.bpf_object__open_file.argtypes = [ctypes.c_char_p, ctypes.POINTER(OpenOpts)]
    lib.bpf_object__load.restype = ctypes.c_int
    lib.bpf_object__load.argtypes = [_P]
    lib.bpf_object__close.restype = None
    lib.bpf_object__close.argtypes = [_P]
    lib.libbpf_get_error.restype = ctypes.c_long
    lib.libbpf_get_error.argtypes = [_P]
    lib.libbpf_set_print.restype = _P
    lib.libbpf_set_print.argtypes = [_PRINT_FN]
    libc = ctypes.CDLL(None)
    libc.vsnprintf.restype = ctypes.c_int
    libc.vsnprintf.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_void_p]
    return lib, libc


_lines: list[str] = []
_lock = threading.Lock()


def _printer(level: int, fmt: bytes, args: int) -> int:
    _, libc = _lib()
    buf = ctypes.create_string_buffer(4096)
    libc.vsnprintf(buf, len(buf), fmt, args)
    _lines.append(buf.value.decode("utf-8", "replace"))
    return 0


_printer_c = _PRINT_FN(_printer)


@dataclass
class Relo:
    """libbpf's account of one relocation: the candidates it matched, the patches, or its complaint."""

    section: str
    index: int
    program: str = ""
    spec: str = ""  # the local spec as logged
    matched_specs: list[str] = field(default_factory=list)
    matched: list[int] = field(default_factory=list)  # candidate type IDs that matched
    patched: list[tuple[str, int, int]] = field(default_factory=list)  # (what, old, new)
    poisoned: bool = False
    failed: bool = False


@dataclass
class Run:
    """One ``bpf_object__open_file`` + ``bpf_object__load``: the log and the relocations in it."""

    log: list[str]
    relos: dict[tuple[str, int], Relo]
    load_error: int
    relocation_failed: bool  # libbpf gave up during CO-RE relocation


_SEC = re.compile(r"^sec '(?P<sec>[^']*)': found \d+ CO-RE relocations")
_RELO = re.compile(r"^prog '(?P<prog>[^']*)': relo #(?P<idx>\d+): (?P<rest>.*)$")
_CAND = re.compile(r"^matching candidate #\d+ <[^>]*> \[(?P<id>\d+)\]")
_PATCH = re.compile(r"^patched insn #\d+ \((?P<what>[A-Z0-9/]+)\) (?P<field>\w+) (?P<old>\d+) -> (?P<new>\d+)")


def run(obj: Path, target: Path | None) -> Run:
    """Open ``obj`` with ``btf_custom_path=target``, load it, and return libbpf's log, parsed."""
    lib, _ = _lib()
    with _lock:
        _lines.clear()
        lib.libbpf_set_print(_printer_c)
        opts = OpenOpts(sz=ctypes.sizeof(OpenOpts))
        if target is not None:
            opts.btf_custom_path = str(target).encode()
        handle = lib.bpf_object__open_file(str(obj).encode(), ctypes.byref(opts))
        require(lib.libbpf_get_error(handle) == 0, f"libbpf cannot open {obj}: {_lines[-3:]}")
        err = lib.bpf_object__load(handle)
        lib.bpf_object__close(handle)
        lines = list(_lines)
    require(
        not any("Couldn't load trivial BPF program" in line or "Operation not permitted" in line for line in lines),
        "libbpf cannot load programs here (no privilege): its CO-RE pass is not reached",
    )
    relos: dict[tuple[str, int], Relo] = {}
    section = ""
    failed = False
    for line in (part.removeprefix("libbpf: ") for text in lines for part in text.splitlines()):
        if m := _SEC.match(line):
            section = m["sec"]
        elif m := _RELO.match(line):
            key = (section, int(m["idx"]))
            relo = relos.setdefault(key, Relo(section, int(m["idx"]), m["prog"]))
            rest = m["rest"]
            if rest.startswith("<"):
                relo.spec = rest
            elif c := _CAND.match(rest):
                relo.matched.append(int(c["id"]))
                relo.matched_specs.append(rest.split(" ", 3)[3])
            elif p := _PATCH.match(rest):
                relo.patched.append((p["what"] + " " + p["field"], int(p["old"]), int(p["new"])))
            elif "w/ invalid insn" in rest:
                relo.poisoned = True
            elif "failed to relocate" in rest or "failed to patch" in rest or "parsing" in rest:
                relo.failed = failed = True
        elif "failed to perform CO-RE relocations" in line:
            failed = True
    return Run(lines, relos, err, failed)
