"""The running kernel as an oracle: load raw BTF with bpf(BPF_BTF_LOAD) through ctypes.

Only tests use this.  A refusal to load at all (no privilege, no bpf() syscall)
is reported by :func:`probe` so that tests can skip with the kernel's reason.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct
from dataclasses import dataclass

_BPF_BTF_LOAD = 18
_SYSCALL_BPF = {"x86_64": 321, "aarch64": 280}.get(platform.machine())
_LOG_SIZE = 16 * 1024 * 1024


class _BtfLoadAttr(ctypes.Structure):
    """The BPF_BTF_LOAD part of ``union bpf_attr`` (6.x layout)."""

    _fields_ = [
        ("btf", ctypes.c_uint64),
        ("btf_log_buf", ctypes.c_uint64),
        ("btf_size", ctypes.c_uint32),
        ("btf_log_size", ctypes.c_uint32),
        ("btf_log_level", ctypes.c_uint32),
        ("btf_log_true_size", ctypes.c_uint32),
        ("btf_flags", ctypes.c_uint32),
        ("btf_token_fd", ctypes.c_uint32),
    ]


@dataclass
class LoadResult:
    """What the kernel said: accepted, or rejected with an errno and the verifier's last log line."""

    ok: bool
    errno: int = 0
    log: str = ""

    def __str__(self) -> str:
        if self.ok:
            return "accepted"
        return f"rejected ({errno.errorcode.get(self.errno, self.errno)}): {self.log}"


_libc = ctypes.CDLL(None, use_errno=True)


def _bpf_btf_load(data: bytes, log: ctypes.Array[ctypes.c_char] | None) -> tuple[int, int]:
    buf = ctypes.create_string_buffer(data, len(data))
    attr = _BtfLoadAttr(btf=ctypes.addressof(buf), btf_size=len(data))
    if log is not None:
        attr.btf_log_buf = ctypes.addressof(log)
        attr.btf_log_size = len(log)
        attr.btf_log_level = 1
    fd = _libc.syscall(_SYSCALL_BPF, _BPF_BTF_LOAD, ctypes.byref(attr), ctypes.sizeof(attr))
    err = ctypes.get_errno()
    if fd >= 0:
        os.close(fd)
        return fd, 0
    return fd, err


def load(data: bytes) -> LoadResult:
    """Load ``data`` as BTF into the kernel (and close the fd at once)."""
    assert _SYSCALL_BPF is not None
    fd, err = _bpf_btf_load(data, None)
    if fd >= 0:
        return LoadResult(True)
    # Load again with a log to learn why; the verdict stays the first one's.
    log = ctypes.create_string_buffer(_LOG_SIZE)
    _bpf_btf_load(data, log)
    lines = log.value.decode("utf-8", "replace").strip().splitlines()
    return LoadResult(False, err, lines[-1].strip() if lines else "")


def probe() -> str | None:
    """None if the kernel loads BTF for us; otherwise why not (for a skip message)."""
    if _SYSCALL_BPF is None:
        return f"no bpf() syscall number known for {platform.machine()}"
    # The smallest valid BTF: one 4-byte INT named "int".
    types = struct.pack("=4I", 1, 1 << 24, 4, 32)
    strs = b"\0int\0"
    hdr = struct.pack("=HBBI4I", 0xEB9F, 1, 0, 24, 0, len(types), len(types), len(strs))
    fd, err = _bpf_btf_load(hdr + types + strs, None)
    if fd >= 0:
        return None
    return f"the kernel refuses BPF_BTF_LOAD: {os.strerror(err)} (errno {errno.errorcode.get(err, err)})"
