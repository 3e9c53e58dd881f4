"""Shared fixtures: the Debian kernel corpus, the machine's vmlinux, and the oracle tools.

Missing prerequisites skip with the reason stated, except under CI (``CI=true``),
where ``.ci/run`` installs everything and a missing piece is a failure.  Every run ends
with the list of skipped tests; with ``--strict-skips`` (``scripts/test`` passes it) a
skip whose reason is not on the allow-list (``tests/allowed_skips.toml``) fails the run.
``BTFKIT_FULL=1`` (``scripts/test --full``) makes corpus-wide tests take every item
where CI takes a sample (:func:`sample`).
"""

from __future__ import annotations

import os
import re
import shutil
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TypeVar

import pytest

import btfkit

SYS_VMLINUX = Path("/sys/kernel/btf/vmlinux")
IN_CI = os.environ.get("CI") == "true"
FULL = os.environ.get("BTFKIT_FULL") == "1"
ALLOWED_SKIPS = Path(__file__).with_name("allowed_skips.toml")

T = TypeVar("T")


def sample(items: Sequence[T], every: int) -> Sequence[T]:
    """Every ``every``-th item (CI's sample), or all of them under ``BTFKIT_FULL=1``."""
    return items if FULL else items[::every]


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
    def release(self) -> str:
        """The corpus kernel's release (what ``uname -r`` prints on it), as fetch-corpus recorded it."""
        path = self.root / "release"
        require(path.exists(), f"{path} missing: run scripts/fetch-corpus again")
        return path.read_text().strip()

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


# --- skips: listed at the end of every run, and refused unless allowed --------------------------
def _allowed_skips() -> list[tuple[re.Pattern[str], str]]:
    with open(ALLOWED_SKIPS, "rb") as f:
        table = tomllib.load(f)
    return [(re.compile(entry["reason"]), entry["why"]) for entry in table["skip"]]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--strict-skips", action="store_true",
                     help=f"fail the run on a skip whose reason is not allowed in {ALLOWED_SKIPS.name}")  # fmt: skip


#: (test, reason) of every skip of this run, as the reports arrive (under xdist the
#: controller receives every worker's reports too).
_skips: list[tuple[str, str]] = []


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return reason.removeprefix("Skipped: ")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        _skips.append((report.nodeid, _skip_reason(report)))


def _unallowed() -> list[tuple[str, str]]:
    allowed = _allowed_skips()
    return [(node, reason) for node, reason in _skips
            if not any(pattern.search(reason) for pattern, _why in allowed)]  # fmt: skip


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    is_worker = hasattr(session.config, "workerinput")  # the controller judges the whole run
    if not is_worker and session.config.getoption("strict_skips") and _unallowed() and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    skips = _skips
    bad = set(_unallowed())
    terminalreporter.section(f"skips: {len(skips)} ({len(bad)} not on the allow-list)")
    for node, reason in sorted(skips):
        mark = "NOT ALLOWED" if (node, reason) in bad else "allowed"
        terminalreporter.write_line(f"{mark}: {node}: {reason}")
    if bad and config.getoption("strict_skips"):
        terminalreporter.write_line(f"a skip not allowed in {ALLOWED_SKIPS.name} fails the run", red=True)
