"""Shared fixtures: the Debian kernel corpus, the machine's vmlinux, and the oracle tools.

Missing prerequisites skip with the reason stated, except under CI (``CI=true``),
where ``.ci/run`` installs everything and a missing piece is a failure.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pytest

import btfkit

SYS_VMLINUX = Path("/sys/kernel/btf/vmlinux")
IN_CI = os.environ.get("CI") == "true"


def require(condition: bool, reason: str) -> None:
    """Skip (fail under CI) when a prerequisite is missing."""
    if not condition:
        if IN_CI:
            pytest.fail(f"prerequisite missing in CI: {reason}")
        pytest.skip(reason)


def tool(name: str) -> str:
    """Path of an oracle tool, skipping (failing in CI) when it is not installed."""
    path = shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None)
    require(path is not None, f"{name} is not installed (scripts/setup installs it)")
    assert path is not None
    return path


@dataclass
class Corpus:
    """The unpacked Debian cloud kernel package (see scripts/fetch-corpus)."""

    root: Path

    @property
    def vmlinux(self) -> Path:
        return self.root / "vmlinux"

    @property
    def vmlinuz(self) -> Path:
        return self.root / "vmlinuz"

    @cached_property
    def modules(self) -> list[Path]:
        return sorted(self.root.joinpath("modules").rglob("*.ko"))

    @cached_property
    def base(self) -> btfkit.BTF:
        return btfkit.load(self.vmlinux)


@pytest.fixture(scope="session")
def corpus() -> Corpus:
    root = Path(os.environ.get("BTFKIT_CORPUS", Path.home() / ".cache/btfkit")) / "current"
    require((root / ".complete").exists(), f"no kernel corpus at {root}: run scripts/fetch-corpus")
    return Corpus(root.resolve())


@pytest.fixture(scope="session")
def sys_vmlinux() -> Path:
    require(SYS_VMLINUX.exists(), "this kernel exposes no /sys/kernel/btf/vmlinux")
    return SYS_VMLINUX
