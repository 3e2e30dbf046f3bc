"""What serve serves: the flows with a schedule or trigger in files, modules or folders.

A folder stands for every ``*.py`` file in it (and below it, skipping hidden
folders and ``__pycache__``); a file or module for every flow it defines with
a schedule or trigger, or for the one flow ``:FLOW`` names. A file that does
not load is reported and skipped, and loaded again once it changes: serve
keeps serving the others. ``Sources.changed`` tells when to look again.
"""

from __future__ import annotations

import os
from pathlib import Path

import attrs

from flowkit._engine.loader import find_flow, load_module, load_path, parse_target
from flowkit._errors import DefinitionError
from flowkit._flow import Flow
from flowkit._interop.targets import is_job_file, job_flows


@attrs.frozen
class Served:
    """A flow serve fires, and the target its runs load it from."""

    flow: Flow = attrs.field(eq=False)
    #: ``/abs/path.py:ATTR`` or ``MODULE:ATTR``, as ``flowkit run`` takes it.
    target: str


@attrs.frozen
class Found:
    """What the targets hold now: the flows to serve, and what is wrong with the rest."""

    served: tuple[Served, ...]
    problems: tuple[str, ...]


def _files_of(folder: Path) -> list[Path]:
    files = []
    for root, folders, names in os.walk(folder):
        folders[:] = sorted(name for name in folders if not name.startswith((".", "__")))
        files += [Path(root) / name for name in sorted(names) if name.endswith(".py")]
    return files


def _flows_of(module: object) -> list[tuple[str, Flow]]:
    found: dict[int, tuple[str, Flow]] = {}
    for attribute, value in vars(module).items():
        if isinstance(value, Flow):
            found.setdefault(id(value), (attribute, value))
    return list(found.values())


class Sources:
    """The targets given to serve, loaded again when a file in them changes."""

    def __init__(self, targets: list[str]) -> None:
        self.targets = targets
        self._stamps: dict[str, float] = {}

    def _paths(self) -> list[tuple[Path, str | None]]:
        """Every flow file the targets name now, with the flow a target picks."""
        paths: list[tuple[Path, str | None]] = []
        for text in self.targets:
            target = parse_target(text)
            path = Path(target.source).expanduser()
            if path.is_dir():
                paths += [(file, None) for file in _files_of(path)]
            elif target.is_path:
                paths.append((path, target.flow_name))
        return paths

    def _current_stamps(self) -> dict[str, float]:
        stamps = {}
        for path, _ in self._paths():
            try:
                stamps[str(path)] = path.stat().st_mtime
            except OSError:
                stamps[str(path)] = -1.0
        return stamps

    def changed(self) -> bool:
        """Whether a file was added, removed or changed since the last ``load``."""
        return self._current_stamps() != self._stamps

    def load(self) -> Found:
        """Load every target: the flows with a schedule or trigger, and the problems."""
        self._stamps = self._current_stamps()
        served: dict[str, Served] = {}
        problems: list[str] = []
        for text in self.targets:
            try:
                if is_job_file(text):
                    self._add_job_file(text, served, problems)
                    continue
                target = parse_target(text)
                path = Path(target.source).expanduser()
                if path.is_dir():
                    for file in _files_of(path):
                        self._add_file(file, None, served, problems, whole_folder=True)
                elif target.is_path:
                    self._add_file(path, target.flow_name, served, problems, whole_folder=False)
                else:
                    module = load_module(target.source)
                    flows = [(attribute, flow) for attribute, flow in _flows_of(module)]
                    if target.flow_name is not None:
                        flow = find_flow(module, target)
                        flows = [(name, value) for name, value in flows if value is flow]
                    self._add(flows, target.source, served, problems, named=target.flow_name)
            except DefinitionError as error:
                problems.append(str(error))
        return Found(served=tuple(served.values()), problems=tuple(problems))

    def _add_job_file(self, text: str, served: dict[str, Served], problems: list[str]) -> None:
        """A bundle's jobs (or one, ``databricks.yml:JOB``), or a Jobs JSON file's job."""
        try:
            flows = job_flows(text)
        except DefinitionError as error:
            problems.append(str(error))
            return
        for flow in flows:
            self._add([(flow.name, flow)], text, served, problems, named=None, origin=flow.origin)

    def _add_file(
        self,
        path: Path,
        flow_name: str | None,
        served: dict[str, Served],
        problems: list[str],
        *,
        whole_folder: bool,
    ) -> None:
        try:
            module = load_path(str(path))
        except DefinitionError as error:
            problems.append(str(error))
            return
        flows = _flows_of(module)
        if flow_name is not None:
            flow = find_flow(module, parse_target(f"{path}:{flow_name}"))
            flows = [(name, value) for name, value in flows if value is flow]
        elif not flows and not whole_folder:
            problems.append(f"flow file {str(path)!r} defines no flow")
        self._add(flows, str(path.resolve()), served, problems, named=flow_name)

    def _add(
        self,
        flows: list[tuple[str, Flow]],
        source: str,
        served: dict[str, Served],
        problems: list[str],
        *,
        named: str | None,
        origin: str | None = None,
    ) -> None:
        for attribute, flow in flows:
            target = origin or f"{source}:{attribute}"
            spec = flow.spec()
            if spec.fires is None:
                if named is not None:
                    problems.append(
                        f"flow {flow.name!r} in {source} has no schedule or trigger, so serve "
                        "has nothing to fire; give it Flow(..., schedule=Cron(...)) or trigger="
                    )
                continue
            if flow.name in served and served[flow.name].target != target:
                problems.append(
                    f"flow {flow.name!r} is defined twice ({served[flow.name].target} and "
                    f"{target}); serve keeps the first. Give each flow its own name"
                )
                continue
            served[flow.name] = Served(flow=flow, target=target)
