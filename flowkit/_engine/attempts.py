"""Attempt requests: what an attempt's process needs, built from the plan and the run so far."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flowkit._planning.plan import Plan, task_arguments
from flowkit._state import RunTrigger
from flowkit.executors import AttemptRequest


class AttemptBuilder:
    """Builds each attempt's request: its upstream values, arguments and the run's facts."""

    def __init__(
        self,
        plan: Plan,
        *,
        run_id: str,
        params: Mapping[str, Any],
        repair_count: int,
        run_started_at: float,
        trigger: RunTrigger,
    ) -> None:
        self.plan = plan
        self.run_id = run_id
        self.params = params
        self.repair_count = repair_count
        self.run_started_at = run_started_at
        self.trigger = trigger
        # Valid once every dependency is final, which dispatch guarantees.
        self._valued_upstream_memo: dict[str, frozenset[str]] = {}
        self._parameter_names: dict[str, tuple[str, ...]] = {}

    def request(
        self,
        name: str,
        attempt: int,
        timeout: float | None,
        *,
        values: Mapping[str, Mapping[str, Any]],
        results: Mapping[str, Any],
    ) -> AttemptRequest:
        upstream_values = {key: values[key] for key in self._valued_upstream(name, values)}
        return AttemptRequest(
            run_id=self.run_id,
            flow_name=self.plan.name,
            task_key=name,
            attempt=attempt,
            fn=self.plan.tasks[name].fn,
            params=self.params,
            upstream_values=upstream_values,
            upstream_edges=self.plan.upstream,
            timeout=timeout,
            arguments=self._arguments(name, results),
            repair_count=self.repair_count,
            run_started_at=self.run_started_at,
            trigger=self.trigger,
        )

    def _arguments(self, name: str, results: Mapping[str, Any]) -> dict[str, Any]:
        """Each parameter of the task's function: a dependency's return value, or a param.

        A dependency that did not succeed (an ``all_done`` task's failed one) gives None.
        """
        arguments: dict[str, Any] = {}
        dependencies = self.plan.upstream[name]
        for parameter in self._parameters(name):
            if parameter in dependencies:
                arguments[parameter] = results.get(parameter)
            elif parameter in self.params:
                arguments[parameter] = self.params[parameter]
        return arguments

    def _parameters(self, name: str) -> tuple[str, ...]:
        parameters = self._parameter_names.get(name)
        if parameters is None:
            parameters = self._parameter_names[name] = task_arguments(self.plan.tasks[name])
        return parameters

    def _valued_upstream(self, name: str, values: Mapping[str, Any]) -> frozenset[str]:
        """The upstream tasks (direct or transitive) of ``name`` that set values.

        Built from the dependencies' own sets, each computed once: a dispatch costs
        the size of these sets, not a walk over every ancestor (a long chain stays linear).
        """
        memo = self._valued_upstream_memo
        upstream = self.plan.upstream
        stack = [name]
        while stack:
            current = stack[-1]
            missing = [dep for dep in upstream[current] if dep not in memo]
            if missing:
                stack.extend(missing)
                continue
            stack.pop()
            if current in memo:
                continue
            found: set[str] = set()
            for dep in upstream[current]:
                found |= memo[dep]
                if dep in values:
                    found.add(dep)
            memo[current] = frozenset(found)
        return memo[name]
