"""Shared helpers for the benchmarks: best-of-N timing, whole-process timing, peak RSS, ratios.

Every benchmark times btfkit and its C peer side by side in one run and prints the ratio.
Run them from the repository root, e.g. ``.venv/bin/python -m benchmarks.bench_load_dump``.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

CORPUS = Path(os.environ.get("BTFKIT_CORPUS", Path.home() / ".cache/btfkit")) / "current"
PYTHON = sys.executable
#: How to run the btfkit command line: the script installed beside this interpreter (as the
#: README runs it; ``python -m`` would add runpy's imports), else ``python -m btfkit``.
_SCRIPT = Path(PYTHON).with_name("btfkit")
BTFKIT = [str(_SCRIPT)] if _SCRIPT.exists() else [PYTHON, "-m", "btfkit"]


def best_of(
    fn: Callable[[], object], repeat: int = 5, clock: Callable[[], float] = time.perf_counter
) -> float:
    """The fastest of ``repeat`` in-process calls, in seconds of ``clock`` (wall time by default;
    ``time.process_time`` gives CPU time, steadier on a busy machine)."""
    best = float("inf")
    for _ in range(repeat):
        t = clock()
        fn()
        best = min(best, clock() - t)
    return best


def run_best_of(cmd: Sequence[str], repeat: int = 5) -> float:
    """The fastest of ``repeat`` runs of a whole process (output discarded), in seconds."""
    def once() -> None:
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)

    return best_of(once, repeat)


def run_to_file_best_of(cmd: Sequence[str], out: Path, repeat: int = 5) -> float:
    """The fastest of ``repeat`` whole-process runs with stdout written to ``out``."""

    def once() -> None:
        with out.open("wb") as f:
            subprocess.run(cmd, check=True, stdout=f)

    return best_of(once, repeat)


def peak_rss_mb(code: str) -> float:
    """Peak resident memory (MiB) of a fresh Python process running ``code``."""
    out = subprocess.run(
        [PYTHON, "-c", code + "\nimport resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"],
        check=True, capture_output=True, text=True,
    ).stdout.split()[-1]
    return int(out) / 1024


def children_peak_rss_mb() -> float:
    """Peak resident memory (MiB) of the largest child process waited for so far."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def report(what: str, ours: float, theirs: float, peer: str, target: float | None = None) -> None:
    """Print one side-by-side line: our time, the peer's, the ratio and the target."""
    ratio = ours / theirs if theirs else float("inf")
    goal = f" (target ≤ {target:g}×: {'met' if ratio <= target else 'MISSED'})" if target else ""
    print(f"{what:<40} btfkit {ours * 1000:9.1f} ms  {peer} {theirs * 1000:9.1f} ms  "
          f"ratio {ratio:6.2f}×{goal}")
