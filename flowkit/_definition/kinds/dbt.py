"""dbt tasks: dbt-core's programmatic ``dbtRunner`` in the attempt (extra ``dbt``).

``flow.dbt(["dbt build --select tag:daily"], project_dir="dbt")`` runs each
command in turn with ``--project-dir`` (and ``--profiles-dir``, ``--target``
when given); references in the commands are filled when the attempt starts.
The counts of every node's status over the commands are the task value
``dbt`` (``{"success": n, "error": n, "skipped": n, "warn": n}``); a node that
fails fails the task, naming the node(s) and dbt's message. dbt's artifacts
(``run_results.json``, ``manifest.json``) are kept beside the log.
"""

from __future__ import annotations

import importlib.util
import shlex
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from flowkit._context import task_values
from flowkit._definition import refs
from flowkit._definition.kinds.runner import beside_the_log, run_runner, runner_main
from flowkit._errors import DbtFailed, DefinitionError
from flowkit._home import make_private_folder

DBT_EXTRA = "pip install 'flowkit-workflows[dbt]'"
ARTIFACTS = ("run_results.json", "manifest.json")
_COUNTED = {
    "success": "success",
    "pass": "success",
    "error": "error",
    "fail": "error",
    "runtime error": "error",
    "skipped": "skipped",
    "warn": "warn",
}


@attrs.frozen
class DbtTask:
    """The function of a dbt task: run the commands, count node statuses, fail on a failed node."""

    flow_name: str
    task_key: str
    commands: tuple[str, ...]
    project_dir: str
    profiles_dir: str | None = None
    target: str | None = None

    @property
    def __name__(self) -> str:
        return self.task_key

    @property
    def __flowkit_references__(self) -> list[str]:
        return list(self.commands)

    def _arguments(self, command: str, where: str) -> list[str]:
        words = [
            refs.fill(word, where=where, what="a dbt command") for word in shlex.split(command)
        ]
        if words and words[0] == "dbt":
            words = words[1:]
        words += ["--project-dir", self.project_dir, "--no-use-colors"]
        if self.profiles_dir is not None:
            words += ["--profiles-dir", self.profiles_dir]
        if self.target is not None:
            words += ["--target", self.target]
        return words

    def __call__(self) -> dict[str, int]:
        """Run every command from a runner process; the status counts.

        The runner (``python -m flowkit._definition.kinds.dbt``) keeps dbt's threads
        and open connections out of the attempt's process, which for the ``inline``
        executor is the orchestrator itself.

        Raises:
            DbtFailed: a node failed, or dbt could not run a command.
        """
        where = f"flow {self.flow_name!r}, task {self.task_key!r}"
        commands = [self._arguments(command, where) for command in self.commands]
        spec = {"commands": commands, "shown": list(self.commands)}
        result = run_runner(__name__, spec, where=where, error=DbtFailed)
        task_values.set("dbt", result["counts"])
        self._keep_artifacts()
        if result["failures"]:
            msg = f"{where}: dbt failed: " + "; ".join(result["failures"])
            raise DbtFailed(msg)
        return result["counts"]

    def _keep_artifacts(self) -> None:
        folder = beside_the_log(".dbt")
        if folder is None:
            return
        for name in ARTIFACTS:
            source = Path(self.project_dir) / "target" / name
            if source.is_file():
                make_private_folder(folder)
                shutil.copyfile(source, folder / name)
                (folder / name).chmod(0o600)

    def __repr__(self) -> str:
        return f"<DbtTask {self.flow_name}.{self.task_key}: {list(self.commands)}>"


def _iterable(value: Any) -> bool:
    try:
        iter(value)
    except TypeError:
        return False
    return not isinstance(value, str | bytes)


def dbt_task(
    flow_name: str,
    name: str | None,
    commands: Any,
    *,
    project_dir: Any,
    profiles_dir: Any,
    target: Any,
    folder: Path,
) -> DbtTask:
    """The function of a dbt task; ``Flow.dbt`` registers it.

    Raises:
        DefinitionError: dbt is not installed, no commands, or the project is missing.
    """
    task_key = name or "dbt"
    where = f"flow {flow_name!r}, task {task_key!r}"
    problems = []
    if importlib.util.find_spec("dbt") is None or importlib.util.find_spec("dbt.cli") is None:
        problems.append(f"{where}: dbt tasks need dbt-core and an adapter: {DBT_EXTRA}")
    if isinstance(commands, str) or not isinstance(commands, Sequence) or not commands:
        problems.append(
            f"{where}: option commands={commands!r} is invalid; allowed: a list of dbt "
            "commands, e.g. ['dbt build --select tag:daily']"
        )
    project = (folder / str(project_dir)).resolve()
    if not (project / "dbt_project.yml").is_file():
        problems.append(
            f"{where}: project_dir={str(project_dir)!r} holds no dbt_project.yml ({project})"
        )
    if problems:
        raise DefinitionError("\n".join(problems), problems)
    profiles = None if profiles_dir is None else str((folder / str(profiles_dir)).resolve())
    return DbtTask(
        flow_name=flow_name,
        task_key=task_key,
        commands=tuple(str(command) for command in commands),
        project_dir=str(project),
        profiles_dir=profiles,
        target=None if target is None else str(target),
    )


def run_dbt(commands: list[list[str]], shown: list[str]) -> dict[str, Any]:
    """Run dbt's commands in this process: the status counts and what failed."""
    from dbt.cli.main import dbtRunner

    counts = dict.fromkeys(("success", "error", "skipped", "warn"), 0)
    failures: list[str] = []
    for arguments, command in zip(commands, shown, strict=True):
        outcome = dbtRunner().invoke(arguments)
        results = outcome.result if _iterable(outcome.result) else ()
        for result in results:
            status = str(getattr(result, "status", "")).lower()
            counts[_COUNTED.get(status, "success")] += 1
            if _COUNTED.get(status) == "error":
                node = getattr(getattr(result, "node", None), "name", "?")
                message = (getattr(result, "message", "") or "").strip()
                failures.append(f"{node}: {' '.join(message.split())}" if message else node)
        if not outcome.success:
            if outcome.exception is not None:
                failures.append(f"dbt {command!r}: {outcome.exception}")
            elif not failures:
                failures.append(f"dbt {command!r} did not succeed")
            break
    return {"counts": counts, "failures": failures}


if __name__ == "__main__":  # the runner: python -m flowkit._definition.kinds.dbt SPEC RESULT
    runner_main(lambda spec: run_dbt(spec["commands"], spec["shown"]))
