"""scripts/test's rules for skips: listed at the end of every run, refused unless allowed.

A throw-away test file is run in a pytest subprocess with this suite's conftest as a plugin.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# A number-dot-number-dot-number-dash-number: a kernel release such as Debian's "<x.y.z>-<abi>-<flavour>".
KERNEL_RELEASE = re.compile(r"\b[0-9]+\.[0-9]+\.[0-9]+-[0-9]+")


def _pytest(tmp_path: Path, body: str, *options: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_probe.py").write_text(body)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider", "-q",
         "--rootdir", str(tmp_path), *options, str(tmp_path / "test_probe.py")],
        cwd=ROOT, capture_output=True, text=True, check=False, env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip


SKIPPING = """
import pytest
def test_ok(): pass
def test_gone(): pytest.skip("the wombat is not installed")
def test_kernel(): pytest.skip("the kernel refuses BPF_BTF_LOAD: Operation not permitted (errno EPERM)")
"""


def test_a_skip_off_the_list_fails_a_strict_run(tmp_path: Path) -> None:
    strict = _pytest(tmp_path, SKIPPING, "--strict-skips")
    assert strict.returncode == pytest.ExitCode.TESTS_FAILED, strict.stdout
    assert "NOT ALLOWED: " in strict.stdout and "the wombat is not installed" in strict.stdout
    assert "allowed: " in strict.stdout and "refuses BPF_BTF_LOAD" in strict.stdout
    # Without --strict-skips (a developer running one file) the list is printed, the run passes.
    loose = _pytest(tmp_path, SKIPPING)
    assert loose.returncode == 0, loose.stdout
    assert "skips: 2 (1 not on the allow-list)" in loose.stdout


def test_allowed_skips_and_no_skips_pass(tmp_path: Path) -> None:
    allowed = _pytest(tmp_path, SKIPPING.replace('def test_gone(): pytest.skip("the wombat is not installed")', ""),
                      "--strict-skips")  # fmt: skip
    assert allowed.returncode == 0, allowed.stdout
    none = _pytest(tmp_path, "def test_ok(): pass\n", "--strict-skips")
    assert none.returncode == 0 and "skips: 0 (0 not on the allow-list)" in none.stdout


def test_a_failure_stays_a_failure(tmp_path: Path) -> None:
    r = _pytest(tmp_path, "def test_bad(): assert False\n", "--strict-skips")
    assert r.returncode == pytest.ExitCode.TESTS_FAILED


def test_scripts_test_is_strict_and_has_full() -> None:
    script = (ROOT / "scripts/test").read_text()
    assert "--strict-skips" in script and "BTFKIT_FULL=1" in script


def test_no_test_benchmark_or_script_names_a_kernel_release() -> None:
    """Kernel releases move every few weeks; a pinned one makes tests skip once it is gone."""
    pinned = []
    for folder in ("tests", "benchmarks", "scripts", ".ci"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and path.suffix in ("", ".py", ".toml", ".sh") and "__pycache__" not in path.parts:
                pinned += [f"{path.relative_to(ROOT)}: {m.group()}"
                           for m in KERNEL_RELEASE.finditer(path.read_text(errors="replace"))]  # fmt: skip
    assert not pinned, pinned
