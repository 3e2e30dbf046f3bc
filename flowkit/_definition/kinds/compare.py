"""Declarative condition tasks (Databricks If/else): compare two values or references.

``flow.compare("has_rows", "{{tasks.ingest.values.row_count}}", ">", 0)``
registers a condition task whose function is a ``Comparison``: when the attempt
runs it fills in the references in both operands (``refs``) and compares
them. As in Databricks, ``==`` and ``!=`` compare the operands as text
(``12.0 == 12`` is false), and ``>``, ``>=``, ``<``, ``<=`` compare them as
numbers (``12.0 >= 12`` is true); an operand that is not a number under an order
operator fails the task. Dependents follow ``task.if_true`` or ``task.if_false``,
like those of any ``@flow.condition`` task.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

import attrs

from flowkit._definition import refs
from flowkit._errors import ComparisonError, DefinitionError

#: Each operator and how it compares: as text (equality) or as numbers (order).
OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
EQUALITY_OPERATORS = ("==", "!=")
SCALAR_TYPES = (str, int, float, bool)


def _problems(flow_name: str, task_key: str, left: Any, op: Any, right: Any) -> list[str]:
    """Every problem with a comparison's operator and operands, one line each."""
    where = f"flow {flow_name!r}, task {task_key!r}"
    problems = []
    if not isinstance(op, str) or op not in OPERATORS:
        problems.append(f"{where}: option op={op!r} is invalid; allowed: {', '.join(OPERATORS)}")
    for side, value in (("left", left), ("right", right)):
        if not isinstance(value, SCALAR_TYPES):
            problems.append(
                f"{where}: option {side}={value!r} of type {type(value).__name__} is invalid; "
                "allowed: str (which may hold {{...}} references), int, float, bool"
            )
        elif isinstance(value, float) and not math.isfinite(value):
            problems.append(
                f"{where}: option {side}={value!r} is invalid; allowed: a finite number"
            )
        elif (
            isinstance(op, str)
            and op in OPERATORS
            and op not in EQUALITY_OPERATORS
            and not (isinstance(value, str) and refs.find_references(value))
            and _number(value) is None
        ):
            # A literal that is not a number can be refused now, not when the task runs.
            problems.append(
                f"{where}: option {side}={value!r} is invalid under operator {op!r}, which "
                "compares numbers; allowed: a number, text that reads as one, or a "
                "{{...}} reference. Use == or != to compare text"
            )
    return problems


@attrs.frozen
class Comparison:
    """The function of a declarative condition task: ``left op right``, as a bool.

    Plain data, so it pickles by reference to this class on every executor.
    """

    flow_name: str
    task_key: str
    left: str | int | float | bool
    op: str
    right: str | int | float | bool

    def __attrs_post_init__(self) -> None:
        problems = _problems(self.flow_name, self.task_key, self.left, self.op, self.right)
        if problems:
            raise DefinitionError("\n".join(problems), problems)

    @property
    def __name__(self) -> str:
        return self.task_key

    @property
    def __flowkit_references__(self) -> list[str]:
        """The operands that may hold references, for the plan to check."""
        return [value for value in (self.left, self.right) if isinstance(value, str)]

    def __call__(self) -> bool:
        """Fill in the references, compare, and print what was compared.

        Raises:
            ComparisonError: an operand is not a number under an order operator.
            FlowkitError: called outside a run with references to fill.
        """
        left, right = self._operand_text("left", self.left), self._operand_text("right", self.right)
        if self.op in EQUALITY_OPERATORS:
            outcome = OPERATORS[self.op](left, right)
            print(f"{left!r} {self.op} {right!r}: {outcome} (compared as text)")
        else:
            left_number = self._operand_number("left", self.left, left)
            right_number = self._operand_number("right", self.right, right)
            outcome = OPERATORS[self.op](left_number, right_number)
            shown = f"{_show_number(left_number)} {self.op} {_show_number(right_number)}"
            print(f"{shown}: {outcome} (compared as numbers)")
        return bool(outcome)

    def _where(self) -> str:
        return f"flow {self.flow_name!r}, task {self.task_key!r}"

    def _operand_text(self, side: str, value: str | int | float | bool) -> str:
        """An operand as text, its references filled in from the running attempt."""
        if not isinstance(value, str):
            return refs.render(value)
        return refs.fill(value, where=self._where(), what=f"operand {side}={value!r}")

    def _operand_number(self, side: str, given: Any, text: str) -> float:
        number = _number(text)
        if number is None:
            shown = repr(text) if given == text else f"{given!r}, which is {text!r}"
            msg = (
                f"{self._where()}: operand {side}={shown}, is not a number; operator "
                f"{self.op!r} compares numbers (use == or != to compare text)"
            )
            raise ComparisonError(msg)
        return number

    def __repr__(self) -> str:
        return (
            f"<Comparison {self.flow_name}.{self.task_key}: {self.left!r} {self.op} {self.right!r}>"
        )


def _show_number(number: float) -> str:
    """``14520`` for 14520.0, ``0.5`` for 0.5: a number as a person writes it."""
    return str(int(number)) if number.is_integer() else repr(number)


def _number(value: object) -> float | None:
    """``value`` as a number, or None: an int or float, or text that reads as one."""
    if isinstance(value, bool):  # True is an int to Python, not a number to Databricks
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return number if not math.isnan(number) else None


def comparison(
    flow_name: str,
    name: str,
    left: str | int | float | bool,
    op: str,
    right: str | int | float | bool,
) -> Comparison:
    """The function of a condition task that compares ``left`` and ``right``.

    ``Flow.compare`` registers it as a condition task.

    Args:
        flow_name: the flow the task belongs to.
        name: the task key.
        left, right: the operands: a str (which may hold dynamic value references
            such as ``{{tasks.ingest.values.row_count}}``), an int, a float or a bool.
        op: one of ``==``, ``!=`` (compare as text), ``>``, ``>=``, ``<``, ``<=``
            (compare as numbers).

    Raises:
        DefinitionError: an unknown operator, an operand that is not a scalar, or a
            literal that is not a number under an order operator.
    """
    return Comparison(flow_name=flow_name, task_key=name, left=left, op=op, right=right)
