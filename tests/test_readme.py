"""The README's promises: its two opening commands, its library example, its test command.

The first command runs in a fresh clone of this repository (a new venv, ``pip install -e .``
from PyPI, the C header of this machine's kernel); its header must be bpftool 7.1's.  The
library example runs as printed.  The test command is what CI runs.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .conftest import require, tool

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


def test_opening_commands() -> None:
    first, second = _blocks("sh")[:2]
    assert first.strip() == ("python3 -m venv .venv && .venv/bin/pip install -e . && "
                             ".venv/bin/btfkit dump /sys/kernel/btf/vmlinux --format c > vmlinux.h")  # fmt: skip
    assert second.strip() == "scripts/test"
    # CI installs everything, then runs exactly the README's test command.
    ci = [line for line in (ROOT / ".ci/run").read_text().splitlines() if line and not line.startswith(("#", "set ", "cd "))]
    assert ci == ["scripts/setup", second.strip()]


def test_first_command_in_a_fresh_clone(sys_vmlinux: Path, tmp_path: Path) -> None:
    """The first command, word for word, in a fresh clone: no corpus, no setup, only PyPI."""
    require(shutil.which("git") is not None and (ROOT / ".git").exists(), "not a git checkout")
    clone = tmp_path / "btfkit"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    command = _blocks("sh")[0].strip()
    started = time.monotonic()
    r = subprocess.run(["bash", "-c", command], cwd=clone, capture_output=True, text=True, check=False)
    took = time.monotonic() - started
    assert r.returncode == 0, r.stderr[-2000:]
    print(f"the README's first command took {took:.0f} s")  # shown with -s; the README says a minute
    expected = subprocess.run([tool("bpftool"), "btf", "dump", "file", str(sys_vmlinux), "format", "c"],
                              capture_output=True, check=True).stdout  # fmt: skip
    assert (clone / "vmlinux.h").read_bytes() == expected


def test_library_example_runs(sys_vmlinux: Path, tmp_path: Path) -> None:
    (example,) = [b for b in _blocks("python") if "btfkit.load" in b][:1]
    r = subprocess.run([sys.executable, "-c", example], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "point.btf").exists()
    assert r.stdout.count("\n") == 2  # the two printed lines


def _named_definitions(header: str) -> list[str]:
    """The first line of each named struct/union/enum/typedef, in order (anonymous enums left out)."""
    return [line for line in header.splitlines()
            if re.match(r"(struct|union|enum|typedef) ", line) and not line.startswith("enum {")]  # fmt: skip


def test_sort_is_bpftool_75s_default_order(sys_vmlinux: Path) -> None:
    """README and ``dump --help``: ``--sort`` is bpftool 7.5's default order but for anonymous enums."""
    from . import kernel_source

    theirs = subprocess.run([str(kernel_source.bpftool_path()), "btf", "dump", "file", str(sys_vmlinux), "format", "c"],
                            capture_output=True, text=True, check=True).stdout  # fmt: skip
    ours = subprocess.run([sys.executable, "-m", "btfkit", "dump", str(sys_vmlinux), "-f", "c", "--sort"],
                          capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert _named_definitions(ours) == _named_definitions(theirs)
