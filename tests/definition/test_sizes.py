"""Memory sizes as a task declares them, and the options that take them."""

from __future__ import annotations

import pytest

import flowkit
from flowkit._definition.sizes import format_size, parse_size


@pytest.mark.parametrize(
    ("given", "size"),
    [
        (1024, 1024),
        ("256MiB", 256 * 1024**2),
        ("2GiB", 2 * 1024**3),
        ("2 gib", 2 * 1024**3),
        ("1.5GB", 1_500_000_000),
        ("512M", 512_000_000),
        ("64KiB", 65536),
        ("100", 100),
    ],
)
def test_sizes_parse_in_binary_and_decimal_units(given: object, size: int) -> None:
    assert parse_size(given) == size


@pytest.mark.parametrize("given", ["lots", "2 GiBs", "-1GiB", 0, -5, True, 1.5, "", "0.1B"])
def test_what_is_not_a_size_is_none(given: object) -> None:
    assert parse_size(given) is None


@pytest.mark.parametrize(
    ("size", "text"),
    [(2.3 * 1024**3, "2.3 GiB"), (2 * 1024**3, "2 GiB"), (256 * 1024**2, "256 MiB"), (17, "17 B")],
)
def test_sizes_print_in_binary_units(size: float, text: str) -> None:
    assert format_size(size) == text


def test_memory_and_cpus_are_options_of_every_kind() -> None:
    flow = flowkit.Flow("sized")

    @flow.task(memory="2GiB", cpus=0.5)
    def a() -> None:
        pass

    flow.shell("b", "echo hi", memory=1000, cpus=2)
    plan = flow.plan()
    assert (plan.tasks["a"].memory, plan.tasks["a"].cpus) == (2 * 1024**3, 0.5)
    assert (plan.tasks["b"].memory, plan.tasks["b"].cpus) == (1000, 2)


@pytest.mark.parametrize(
    ("option", "value", "allowed"),
    [("memory", "lots", "'2GiB'"), ("memory", 0, "'2GiB'"), ("cpus", 0, "CPUs > 0")],
)
def test_invalid_resources_name_flow_task_and_what_is_allowed(
    option: str, value: object, allowed: str
) -> None:
    flow = flowkit.Flow("sized")
    with pytest.raises(flowkit.DefinitionError) as caught:

        @flow.task(**{option: value})
        def a() -> None:
            pass

    message = str(caught.value)
    assert "flow 'sized', task 'a'" in message
    assert f"{option}={value!r}" in message
    assert allowed in message
