"""``flowkit export``: a flow as Databricks job settings (Jobs API 2.2 JSON, or a bundle's YAML)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from flowkit._errors import DefinitionError
from flowkit._text import escape, escape_lines, write_out
from flowkit.cli._common import EXIT_SUCCEEDED, TARGET_HELP, add_job_options, load_any


def _add_export(commands: Any, common: argparse.ArgumentParser) -> None:
    export = commands.add_parser(
        "export",
        parents=[common],
        help="write a flow as Databricks job settings",
        description="Write a flow as Databricks Jobs API 2.2 job settings (jobs-json), or as "
        "the resources.jobs section of a Databricks Asset Bundle (bundle-yaml). What has no "
        "Databricks field is said on stderr as a warning.",
    )
    export.add_argument("target", metavar="PATH.py[:FLOW]|MODULE[:FLOW]", help=TARGET_HELP)
    export.add_argument(
        "--format",
        choices=("jobs-json", "bundle-yaml"),
        default="jobs-json",
        help="default: jobs-json",
    )
    export.add_argument(
        "-o", "--output", metavar="FILE", default=None, help="write here (default: stdout)"
    )
    add_job_options(export)
    export.set_defaults(handler=_export)


def _export(args: argparse.Namespace) -> int:
    from flowkit._engine.origin import flow_target
    from flowkit._interop.jobs import job_settings

    flow = load_any(args)
    plan = flow.plan()
    exported = job_settings(plan, target=flow_target(plan), root=flow.source_folder)
    if args.format == "jobs-json":
        text = json.dumps(exported.settings, indent=2) + "\n"
    else:
        text = _bundle_yaml(plan.name, exported.settings)
    for warning in exported.warnings:
        write_out(f"flowkit: warning: {escape_lines(warning)}\n", sys.stderr)
    if args.output is None:
        write_out(text)
    else:
        try:
            with open(args.output, "w", encoding="utf-8") as handle:
                handle.write(text)
        except OSError as error:
            msg = f"cannot write {args.output}: {error.strerror or error}; give another -o FILE"
            raise DefinitionError(msg) from error
        write_out(f"{escape(args.output)}\n")
    return EXIT_SUCCEEDED


def _bundle_yaml(name: str, settings: dict[str, Any]) -> str:
    try:
        import yaml
    except ImportError as error:
        msg = (
            "--format bundle-yaml needs PyYAML: pip install 'flowkit-workflows[databricks]', "
            "or export --format jobs-json"
        )
        raise DefinitionError(msg) from error
    document = {"resources": {"jobs": {name: settings}}}
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
