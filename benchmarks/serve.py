"""flowkit serve: idle CPU, the delay from a fire to the first task, `schedule` of 100 flows.

    python benchmarks/serve.py              # ~90 s: 60 s of idle serve, 12 s of fires
    python benchmarks/serve.py --idle 20    # a shorter idle window

Prints one table. Each figure has a baseline measured in the same run:

- idle CPU: `flowkit serve` of 20 flows whose schedules do not fire in the
  window, its user+system CPU seconds (from /proc) over the window, as a share
  of one core; baseline: the same for `python -c "import flowkit; sleep"`.
- fire delay: a flow on a 2-second Quartz schedule whose first task writes the
  time it starts; the delay is that time minus the run's scheduled time
  (serve starts the run's process ahead and it waits for its time); baseline:
  the same measure for `python -m flowkit run` started at the fire time, as a
  cron daemon would start it.
- `flowkit schedule` of 100 flow files with `--next 3`, wall time; baseline:
  `python -c "import flowkit"`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCHEDULED_FLOW = """
import time
from pathlib import Path
from flowkit import Cron, Flow

flow = Flow("{name}", schedule=Cron("{expression}"), max_concurrent_runs=3)

@flow.task
def first():
    with open(Path(__file__).with_name("starts.txt"), "a") as out:
        out.write(repr(time.time()) + "\\n")
"""


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime


def _idle_cpu(command: list[str], window: float, env: dict[str, str]) -> float:
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    try:
        time.sleep(3.0)  # past start-up: loading flows is not idling
        before = _cpu_seconds(process.pid)
        time.sleep(window)
        return (_cpu_seconds(process.pid) - before) / window
    finally:
        process.send_signal(signal.SIGINT if "serve" in command else signal.SIGTERM)
        process.wait(timeout=60)


def idle(folder: Path, window: float) -> tuple[float, float]:
    flows = folder / "idle"
    flows.mkdir()
    for index in range(20):
        name = f"idle_{index:02d}"
        text = SCHEDULED_FLOW.format(name=name, expression=f"{index} 3 * * *")
        (flows / f"{name}.py").write_text(text)
    env = {**os.environ, "FLOWKIT_HOME": str(folder / "idle-home")}
    serve = _idle_cpu([sys.executable, "-m", "flowkit", "serve", str(flows)], window, env)
    sleeper = [sys.executable, "-c", "import flowkit, time; time.sleep(1e6)"]
    return serve, _idle_cpu(sleeper, window, env)


def fire_delays(folder: Path, seconds: float) -> list[float]:
    flows = folder / "fires"
    flows.mkdir()
    path = flows / "ticker.py"
    path.write_text(SCHEDULED_FLOW.format(name="ticker", expression="*/2 * * * * ?"))
    home = folder / "fires-home"
    env = {**os.environ, "FLOWKIT_HOME": str(home)}
    serve = subprocess.Popen(
        [sys.executable, "-m", "flowkit", "serve", str(path)], env=env, stdout=subprocess.DEVNULL
    )
    time.sleep(seconds)
    serve.send_signal(signal.SIGINT)
    serve.wait(timeout=60)
    starts = [float(line) for line in (flows / "starts.txt").read_text().split()]
    # each start belongs to the even second it was scheduled for
    return [start - (start // 2) * 2 for start in starts]


def cron_daemon_delays(folder: Path, count: int) -> list[float]:
    """`flowkit run` started at the fire time, as cron would: the delay to its first task."""
    flows = folder / "cron"
    flows.mkdir()
    path = flows / "ticker.py"
    path.write_text(SCHEDULED_FLOW.format(name="ticker", expression="*/2 * * * * ?"))
    env = {**os.environ, "FLOWKIT_HOME": str(folder / "cron-home")}
    delays = []
    for _ in range(count):
        fired = time.time()
        subprocess.run(
            [sys.executable, "-m", "flowkit", "run", str(path)],
            env=env,
            stdout=subprocess.DEVNULL,
            check=True,
        )
        start = float((flows / "starts.txt").read_text().split()[-1])
        delays.append(start - fired)
    return delays


def schedule_time(folder: Path, repeats: int) -> tuple[float, float]:
    flows = folder / "hundred"
    flows.mkdir()
    for index in range(100):
        expression = f"0 {index % 60} {index % 24} * * ?"
        text = SCHEDULED_FLOW.format(name=f"flow_{index:03d}", expression=expression)
        (flows / f"flow_{index:03d}.py").write_text(text)
    env = {**os.environ, "FLOWKIT_HOME": str(folder / "schedule-home")}

    def best(command: list[str]) -> float:
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            subprocess.run(command, env=env, stdout=subprocess.DEVNULL, check=True)
            times.append(time.perf_counter() - started)
        return min(times)

    schedule = [sys.executable, "-m", "flowkit", "schedule", str(flows), "--next", "3"]
    return best(schedule), best([sys.executable, "-c", "import flowkit"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=float, default=60.0, help="idle window, seconds")
    parser.add_argument("--fires", type=float, default=12.0, help="serve window for fires")
    arguments = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="flowkit-serve-bench-"))
    try:
        serve_cpu, sleeper_cpu = idle(folder, arguments.idle)
        delays = fire_delays(folder, arguments.fires)
        cron_delays = cron_daemon_delays(folder, 5)
        schedule, import_only = schedule_time(folder, 5)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    milliseconds = [delay * 1000 for delay in delays]
    cron_milliseconds = [delay * 1000 for delay in cron_delays]
    rows = [
        (
            "serve idle CPU, 20 flows",
            f"{serve_cpu * 100:.2f}% of a core",
            f"{sleeper_cpu * 100:.2f}% (import flowkit; sleep)",
            "< 1%",
        ),
        (
            f"fire -> first task, serve ({len(delays)} fires)",
            f"median {statistics.median(milliseconds):.0f} ms, max {max(milliseconds):.0f} ms",
            f"median {statistics.median(cron_milliseconds):.0f} ms (flowkit run at the fire time)",
            "< 150 ms",
        ),
        (
            "flowkit schedule, 100 flows, --next 3",
            f"{schedule * 1000:.0f} ms",
            f"{import_only * 1000:.0f} ms (import flowkit)",
            "< 1 s",
        ),
    ]
    header = ("measure", "flowkit", "baseline", "goal")
    widths = [max(len(row[column]) for row in (header, *rows)) for column in range(4)]
    for row in (header, *rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
