"""Loading a flow from the command line's target: ``PATH.py[:FLOW]`` or ``MODULE[:FLOW]``.

A file is executed as a module registered in ``sys.modules`` under a name
derived from its path, and registered with cloudpickle to pickle by value, so
that an isolating executor can ship its functions to a process that cannot
import the file. Every way a target can be wrong becomes a ``DefinitionError``
that says what to fix, with no traceback of flowkit's own.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import re
import sys
import traceback
from pathlib import Path
from types import ModuleType, TracebackType

import attrs
import cloudpickle

from flowkit._errors import DefinitionError
from flowkit._flow import Flow

#: Module names registered for flow files start with this, so they never clash with a real one.
MODULE_PREFIX = "flowkit_flow_"
_NOT_IDENTIFIER = re.compile(r"\W")


@attrs.frozen
class Target:
    """What the command line names: a file path or a module name, and maybe a flow."""

    source: str
    flow_name: str | None = None

    @property
    def is_path(self) -> bool:
        """Whether ``source`` names a file rather than an importable module."""
        source = self.source
        return source.endswith(".py") or "/" in source or os.sep in source or Path(source).is_file()


def parse_target(text: str) -> Target:
    """Split ``PATH.py[:FLOW]`` or ``MODULE[:FLOW]`` into its source and flow name.

    Only the text after the last ``:`` can name the flow, and only when it holds
    no path separator, so a Windows path such as ``C:\\flows\\etl.py`` stays whole.

    Raises:
        DefinitionError: the target or the flow name after ``:`` is empty.
    """
    source, colon, flow_name = text.rpartition(":")
    if not colon or "/" in flow_name or "\\" in flow_name:
        source, colon, flow_name = text, "", ""
    if not source:
        msg = (
            f"target {text!r} names no file or module; give a flow file (PATH.py[:FLOW]) "
            "or a module (MODULE[:FLOW])"
        )
        raise DefinitionError(msg)
    if colon and not flow_name:
        msg = f"target {text!r} ends with ':'; name the flow after it (PATH.py:FLOW) or drop it"
        raise DefinitionError(msg)
    return Target(source=source, flow_name=flow_name or None)


def load_flow(text: str) -> Flow:
    """Load the module a target names and return its flow.

    Raises:
        DefinitionError: the file or module is missing, does not import, or
            holds no flow, several flows, or none of the requested name.
    """
    target = parse_target(text)
    module = load_path(target.source) if target.is_path else load_module(target.source)
    return find_flow(module, target)


def module_name_for(path: Path) -> str:
    """The ``sys.modules`` name a flow file is registered under: stable for one path."""
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    stem = _NOT_IDENTIFIER.sub("_", path.stem)
    return f"{MODULE_PREFIX}{stem}_{digest}"


def load_path(source: str) -> ModuleType:
    """Execute the flow file ``source`` as a fresh module and return it.

    Like ``python path/to/flow.py``, the file's directory goes onto ``sys.path``
    so the file can import its neighbours.

    Raises:
        DefinitionError: the file does not exist, is not a file, has a syntax
            error (file and line shown) or raises while it is imported
            (its traceback shown, from the file's own code on).
    """
    path = Path(source).expanduser()
    if not path.exists():
        relative = "" if path.is_absolute() else f" (relative to {Path.cwd()})"
        msg = f"flow file {source!r} does not exist{relative}"
        raise DefinitionError(msg)
    if not path.is_file():
        msg = f"flow file {source!r} is not a file; give the .py file that defines the flow"
        raise DefinitionError(msg)
    path = path.resolve()
    name = module_name_for(path)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        msg = f"flow file {source!r} cannot be loaded as Python; give a .py file"
        raise DefinitionError(msg)
    directory = str(path.parent)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as error:
        del sys.modules[name]
        raise DefinitionError(_syntax_error_message(f"flow file {source!r}", error)) from None
    except DefinitionError as error:  # flowkit refused a definition: its message says it all
        del sys.modules[name]
        where = f"flow file {source!r}"
        raise _definition_error(where, error) from None
    except (Exception, SystemExit) as error:  # the user's code: any error is a bad flow file
        del sys.modules[name]
        raise DefinitionError(_import_error_message(f"flow file {source!r}", error)) from None
    cloudpickle.register_pickle_by_value(module)
    return module


def load_module(name: str) -> ModuleType:
    """Import the module ``name``, as ``python -m`` would, from the current directory too.

    Raises:
        DefinitionError: no such module (nor file), or it raises while imported.
    """
    try:
        return _import(name)
    except ModuleNotFoundError as error:
        if not _is_missing(name, error):
            raise DefinitionError(_import_error_message(f"module {name!r}", error)) from None
    cwd = os.getcwd()
    if cwd not in sys.path:  # the console script, unlike python -m, does not search it
        sys.path.insert(0, cwd)
        try:
            return _import(name)
        except ModuleNotFoundError as error:
            if not _is_missing(name, error):
                raise DefinitionError(_import_error_message(f"module {name!r}", error)) from None
    msg = (
        f"no flow file or module named {name!r}: there is no file {name!r} in {cwd}, and "
        f"'import {name}' finds no module. Give a path (flows/etl.py) or an importable "
        "module name (flows.etl)"
    )
    raise DefinitionError(msg)


def _import(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError:
        raise
    except SyntaxError as error:
        raise DefinitionError(_syntax_error_message(f"module {name!r}", error)) from None
    except DefinitionError as error:
        where = f"module {name!r}"
        raise _definition_error(where, error) from None
    except (Exception, SystemExit) as error:  # the user's code: any error is a bad module
        raise DefinitionError(_import_error_message(f"module {name!r}", error)) from None


def _is_missing(name: str, error: ModuleNotFoundError) -> bool:
    """Whether ``error`` says ``name`` itself (or a parent package) is missing."""
    parts = name.split(".")
    missing = {".".join(parts[: index + 1]) for index in range(len(parts))}
    return error.name in missing


def find_flow(module: ModuleType, target: Target) -> Flow:
    """The flow ``target`` names in ``module``, or the module's only flow when it names none.

    The name after ``:`` is looked up as a module attribute first, then as a flow's name.

    Raises:
        DefinitionError: no flow, several flows and none named, or no flow of
            that name; the message lists the flows found.
    """
    kind = "flow file" if target.is_path else "module"
    where = f"{kind} {target.source!r}"
    found: dict[int, tuple[str, Flow]] = {}  # a flow bound to two names counts once
    for attribute, value in vars(module).items():
        if isinstance(value, Flow):
            found.setdefault(id(value), (attribute, value))
    flows = list(found.values())
    listing = ", ".join(f"{flow.name!r} (attribute {attribute})" for attribute, flow in flows)
    flow_name = target.flow_name
    if flow_name is None:
        if len(flows) == 1:
            return flows[0][1]
        if not flows:
            msg = f"{where} defines no flow; define one at module level, e.g. flow = Flow('etl')"
        else:
            msg = (
                f"{where} defines {len(flows)} flows: {listing}; pick one with "
                f"{target.source}:FLOW, e.g. {target.source}:{flows[0][0]}"
            )
        raise DefinitionError(msg)
    value = getattr(module, flow_name, None)
    if isinstance(value, Flow):
        return value
    by_name = [flow for _, flow in flows if flow.name == flow_name]
    if len(by_name) == 1:
        return by_name[0]
    if value is not None:
        msg = (
            f"{where}: attribute {flow_name!r} is a {type(value).__name__}, not a Flow; "
            f"flows found: {listing or 'none'}"
        )
    else:
        msg = f"{where} has no flow {flow_name!r}; flows found: {listing or 'none'}"
    raise DefinitionError(msg)


def _syntax_error_message(where: str, error: SyntaxError) -> str:
    place = f"line {error.lineno}" if error.lineno else "an unknown line"
    if error.filename:
        place = f"{error.filename}, {place}"
    lines = [f"{where} has a syntax error at {place}: {error.msg}"]
    if error.text:
        text = error.text.rstrip("\n")
        code = text.lstrip()
        lines.append(f"    {code}")
        if error.offset:
            column = max(0, error.offset - 1 - (len(text) - len(code)))
            lines.append(f"    {' ' * column}^")
    return "\n".join(lines)


def _definition_error(where: str, error: DefinitionError) -> DefinitionError:
    """``error``, raised while ``where`` was imported, as one paragraph: the line, the message.

    Its traceback would run through flowkit's and attrs' validators, which say
    nothing the message does not; the line of the user's code that made the
    definition is what helps.
    """
    place = ""
    frames = traceback.extract_tb(_user_frames(error.__traceback__))
    package = str(Path(__file__).resolve().parents[1])
    own = [frame for frame in frames if not _is_library(frame.filename, package)]
    if own:
        place = f" ({own[-1].filename}, line {own[-1].lineno})"
    msg = f"{where} defines an invalid flow{place}: {error}"
    return DefinitionError(msg, error.problems)


def _is_library(filename: str, package: str) -> bool:
    """Whether a frame is flowkit's own code or a library's, not the flow's author's."""
    return (
        filename.startswith((package, "<frozen ", "<attrs generated"))
        or "site-packages" in filename
    )


def _import_error_message(where: str, error: BaseException) -> str:
    """The error and its traceback from the user's code on, without importlib's frames."""
    summary = traceback.format_exception_only(type(error), error)[-1].strip()
    frames = traceback.format_tb(_user_frames(error.__traceback__))
    lines = [f"{where} failed to import: {summary}"]
    if frames:
        lines.append("Traceback (most recent call last):")
        lines.extend(frame.rstrip("\n") for frame in frames)
        lines.append(summary)
    return "\n".join(lines)


def _user_frames(tb: TracebackType | None) -> TracebackType | None:
    """Skip the frames of this module and of importlib, up to the user's first one."""
    internal = (__file__, "<frozen ", importlib.__file__ or "<importlib>")
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(internal):
        tb = tb.tb_next
    return tb
