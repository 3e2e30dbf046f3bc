"""What the machine has: cgroup v2 and v1 limits over /proc/meminfo and the CPU affinity."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from flowkit.executors import _machine as machine

GiB = 1024**3
MEMINFO = "MemTotal:       25165824 kB\nMemFree:  1000 kB\nMemAvailable:   23068672 kB\n"


@pytest.fixture
def fake_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A /proc and /sys/fs/cgroup of files the test writes; 24 GiB, 22 GiB available."""
    (tmp_path / "meminfo").write_text(MEMINFO)
    root = tmp_path / "cgroup"
    root.mkdir()
    monkeypatch.setattr(machine, "_MEMINFO", tmp_path / "meminfo")
    monkeypatch.setattr(machine, "_CGROUP_ROOT", root)
    monkeypatch.setattr(machine, "_PROC_CGROUP", tmp_path / "self-cgroup")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)))
    return tmp_path


def _write(folder: Path, **files: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name.replace("_", ".", 1)).write_text(text)


def test_without_a_cgroup_limit_the_kernel_s_figures_are_used(fake_machine: Path) -> None:
    (fake_machine / "self-cgroup").write_text("0::/\n")
    _write(fake_machine / "cgroup", cgroup_controllers="cpu memory", memory_max="max\n")

    assert machine.memory() == machine.Memory(total=24 * GiB, available=22 * GiB)
    assert machine.cpus() == 16


def test_a_cgroup_v2_limit_caps_memory_and_cpus(fake_machine: Path) -> None:
    (fake_machine / "self-cgroup").write_text("0::/job.slice/flowkit\n")
    _write(fake_machine / "cgroup", cgroup_controllers="cpu memory")
    _write(
        fake_machine / "cgroup" / "job.slice" / "flowkit",
        memory_max=f"{4 * GiB}\n",
        memory_current=f"{1 * GiB}\n",
        cpu_max="250000 100000\n",
    )

    assert machine.memory() == machine.Memory(total=4 * GiB, available=3 * GiB)
    assert machine.cpus() == 3  # 2.5 CPUs' worth of quota: three may run, not sixteen


def test_a_cgroup_v1_limit_caps_memory_and_cpus(fake_machine: Path) -> None:
    (fake_machine / "self-cgroup").write_text(
        "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n0::/\n"
    )
    _write(
        fake_machine / "cgroup" / "memory" / "docker" / "abc",
        memory_limit_in_bytes=f"{2 * GiB}\n",
        memory_usage_in_bytes=f"{GiB // 2}\n",
    )
    _write(
        fake_machine / "cgroup" / "cpu" / "docker" / "abc",
        cpu_cfs_quota_us="200000\n",
        cpu_cfs_period_us="100000\n",
    )

    assert machine.memory() == machine.Memory(total=2 * GiB, available=GiB + GiB // 2)
    assert machine.cpus() == 2


def test_a_v1_limit_of_no_limit_is_none(fake_machine: Path) -> None:
    (fake_machine / "self-cgroup").write_text("4:memory:/\n3:cpu:/\n")
    _write(fake_machine / "cgroup" / "memory", memory_limit_in_bytes="9223372036854771712\n")
    _write(fake_machine / "cgroup" / "cpu", cpu_cfs_quota_us="-1\n", cpu_cfs_period_us="100000\n")

    assert machine.memory() == machine.Memory(total=24 * GiB, available=22 * GiB)
    assert machine.cpus() == 16


def test_a_tree_s_rss_counts_its_children() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", "x = b'x' * 50_000_000; print('ready', flush=True); input()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "ready\n"
        own = machine.tree_rss(os.getpid()) - machine.tree_rss(child.pid)

        assert machine.tree_rss(child.pid) > 50_000_000
        assert own > 10_000_000  # this interpreter's own pages, beside its child's
    finally:
        child.kill()
        child.wait()
    assert machine.tree_rss(child.pid) == 0  # gone: nothing to count
