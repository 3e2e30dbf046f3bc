"""What a command's TARGET names: a Python flow, a Jobs JSON file, or a bundle's job.

``load_target`` is the one front door the commands use: ``PATH.py[:FLOW]`` and
``MODULE[:FLOW]`` go to the Python loader; ``job.json`` is job settings;
``databricks.yml`` (or any ``.yml``/``.yaml``) is a bundle, whose job is
picked with ``job`` (needed when it has several) for ``bundle_target``; the
text ``databricks.yml:JOB@TARGET`` names both, as a run records it.
"""

from __future__ import annotations

import re
from pathlib import Path

from flowkit._engine.loader import load_flow
from flowkit._errors import DefinitionError
from flowkit._flow import Flow
from flowkit._interop.bundle import Bundle, read_bundle, read_jobs_json
from flowkit._interop.load import flow_from_job

BUNDLE_SUFFIXES = (".yml", ".yaml")
#: ``PATH.yml:JOB`` or ``PATH.yml:JOB@TARGET`` (a JSON file's one job: ``PATH.json:NAME``).
_NAMED_JOB = re.compile(r"(.+\.(?:ya?ml|json)):([\w.-]+)(?:@([\w.-]+))?")


def is_job_file(text: str) -> bool:
    """Whether ``text`` names a bundle or a Jobs JSON file (with ``:JOB[@TARGET]`` or not)."""
    return text.endswith((".json", *BUNDLE_SUFFIXES)) or _NAMED_JOB.fullmatch(text) is not None


def load_target(text: str, *, job: str | None = None, bundle_target: str | None = None) -> Flow:
    """The flow ``text`` names (see the module docstring).

    Raises:
        DefinitionError: the file is missing or unreadable, the job is not named or
            unknown, or the job cannot run locally.
    """
    named = _NAMED_JOB.fullmatch(text)
    if named is not None and job is None and bundle_target is None:
        text, job, bundle_target = named[1], named[2], named[3]
    if not is_job_file(text):
        if job is not None or bundle_target is not None:
            msg = f"--job and --target pick a job of a bundle or JSON file; {text!r} is neither"
            raise DefinitionError(msg)
        return load_flow(text)
    path = Path(text).expanduser().absolute()
    if not path.is_file():
        msg = f"no job file {text!r} (looked for {path})"
        raise DefinitionError(msg)
    if path.suffix == ".json":
        flow = flow_from_job(read_jobs_json(path), root=path.parent, where=str(path))
        flow.origin = str(path)
        return flow
    bundle = read_bundle(path, bundle_target)
    if not bundle.jobs:
        msg = f"{path}: bundle {bundle.name!r} defines no jobs (resources.jobs)"
        raise DefinitionError(msg)
    if job is None:
        if len(bundle.jobs) > 1:
            msg = (
                f"{path}: bundle {bundle.name!r} has {len(bundle.jobs)} jobs "
                f"({', '.join(bundle.jobs)}); pick one with --job KEY"
            )
            raise DefinitionError(msg)
        job = next(iter(bundle.jobs))
    flow = _bundle_job(bundle, job, path)
    flow.origin = f"{path}:{job}" + (f"@{bundle.target}" if bundle.target else "")
    return flow


def _bundle_job(bundle: Bundle, key: str, path: Path, calling: tuple[str, ...] = ()) -> Flow:
    jobs = bundle.jobs
    if key not in jobs:
        msg = f"{path}: bundle has no job {key!r}; its jobs: {', '.join(jobs)}"
        raise DefinitionError(msg)
    if key in calling:
        cycle = " -> ".join((*calling[calling.index(key) :], key))
        msg = f"{path}: jobs run each other in a cycle through run_job_task: {cycle}"
        raise DefinitionError(msg)
    settings, folder = jobs[key]
    children = {
        other: (lambda other=other: _bundle_job(bundle, other, path, (*calling, key)))
        for other in jobs
    }
    where = f"{path}: job {key!r}"
    return flow_from_job(settings, root=folder, jobs=children, where=where, name=key)


def job_flows(text: str) -> list[Flow]:
    """Every job of a bundle as a flow (one when ``text`` names it), or a JSON file's job."""
    if _NAMED_JOB.fullmatch(text) is not None or text.endswith(".json"):
        return [load_target(text)]
    path = Path(text).expanduser().absolute()
    if not path.is_file():
        msg = f"no job file {text!r} (looked for {path})"
        raise DefinitionError(msg)
    bundle = read_bundle(path)
    return [load_target(f"{path}:{key}") for key in bundle.jobs]
