"""What the machine really has: memory and CPUs as its cgroup limits them, and a tree's RSS.

Read from ``/proc`` and ``/sys/fs/cgroup`` (v2, else v1), never assumed from
``os.cpu_count()``: a container limited to 2 CPUs and 4 GiB on a 64-core host
must not be planned as the host (DESIGN.md §9). Off Linux, or where a file is
missing, each function falls back to what the OS says, or to None.
"""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path

import attrs

from flowkit.executors import _processes as procs

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_CGROUP_ROOT = Path("/sys/fs/cgroup")
_PROC_CGROUP = Path("/proc/self/cgroup")
_MEMINFO = Path("/proc/meminfo")
#: cgroup v1 writes "no limit" as a huge number near 2**63.
_NO_LIMIT = 2**60


@attrs.frozen
class Memory:
    """The machine's memory in bytes: what it may use in all (``total``) and what is free."""

    total: int
    available: int


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and every descendant (0 once all are gone)."""
    return sum(_rss(process) for process in (pid, *procs.descendants(pid)))


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as handle:
            return int(handle.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


def memory() -> Memory | None:
    """Total and available memory, the tighter of the kernel's and this cgroup's; None off Linux."""
    meminfo = _meminfo()
    if not meminfo:
        return None
    total = meminfo.get("MemTotal", 0)
    available = meminfo.get("MemAvailable", meminfo.get("MemFree", 0))
    limit = _cgroup_memory()
    if limit is not None:
        cap, used = limit
        total = min(total, cap)
        available = min(available, max(0, cap - used))
    return Memory(total=total, available=available)


def cpus() -> int:
    """CPUs this process may use: its affinity, capped by the cgroup's CPU quota (at least 1)."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    quota = _cgroup_cpu_quota()
    if quota is not None:
        count = min(count, max(1, math.ceil(quota)))
    return max(1, count)


def _meminfo() -> dict[str, int]:
    found: dict[str, int] = {}
    try:
        with _MEMINFO.open() as handle:
            for line in handle:
                name, _, rest = line.partition(":")
                fields = rest.split()
                if fields:
                    found[name] = int(fields[0]) * 1024
    except (OSError, ValueError):
        return {}
    return found


def _cgroup_dirs() -> dict[str, Path]:
    """This process's cgroup folder per controller ("" for the v2 unified hierarchy)."""
    return _cgroup_dirs_of(_PROC_CGROUP, _CGROUP_ROOT)


@functools.cache
def _cgroup_dirs_of(proc_cgroup: Path, root: Path) -> dict[str, Path]:
    """Found once per process: a process does not move between cgroups on its own."""
    dirs: dict[str, Path] = {}
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return dirs
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            base = root / controller
            if controller == "" and not (base / "cgroup.controllers").exists():
                base = root / "unified"  # v1 and v2 side by side (hybrid)
            for candidate in (base / path.lstrip("/"), base):  # a namespace shows its root
                if candidate.is_dir():
                    dirs[controller] = candidate
                    break
    return dirs


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _cgroup_memory() -> tuple[int, int] | None:
    """(limit, usage) of this cgroup's memory, None when it has no limit."""
    dirs = _cgroup_dirs()
    unified = dirs.get("")
    if unified is not None and (limit := _read(unified / "memory.max")) not in (None, "max"):
        used = _read(unified / "memory.current") or "0"
        return int(limit), int(used)
    legacy = dirs.get("memory")
    limit = _read(legacy / "memory.limit_in_bytes") if legacy is not None else None
    if legacy is not None and limit is not None and int(limit) < _NO_LIMIT:
        used = _read(legacy / "memory.usage_in_bytes") or "0"
        return int(limit), int(used)
    return None


def _cgroup_cpu_quota() -> float | None:
    """CPUs' worth of this cgroup's CPU quota, None when it has none."""
    dirs = _cgroup_dirs()
    unified = dirs.get("")
    if unified is not None and (text := _read(unified / "cpu.max")) is not None:
        quota, _, period = text.partition(" ")
        if quota != "max" and period:
            return int(quota) / int(period)
    legacy = dirs.get("cpu")
    if legacy is not None:
        quota_text = _read(legacy / "cpu.cfs_quota_us")
        period_text = _read(legacy / "cpu.cfs_period_us")
        if quota_text and period_text and int(quota_text) > 0:
            return int(quota_text) / int(period_text)
    return None
