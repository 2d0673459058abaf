"""The host canary: the same work every call, timed in CPU time; steal read from /proc/stat."""

from __future__ import annotations

import subprocess
import sys

from benchmarks.host_canary import KEYS, sample, steal_ticks, work


def test_the_work_is_the_same_every_call() -> None:
    assert work() == work()
    assert work() >= KEYS


def test_a_sample_is_the_cpu_time_of_the_work() -> None:
    assert sample() > 0


def test_steal_ticks_never_go_back() -> None:
    first = steal_ticks()
    assert 0 <= first <= steal_ticks()


def test_run_alone_it_prints_one_sample_per_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.host_canary", "--every", "0.05", "--seconds", "0.3"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    lines = done.stdout.split()
    assert lines and all(float(line) > 0 for line in lines)
