"""The flow's operating options, validated when the Flow is built (DESIGN.md §5)."""

from __future__ import annotations

import pytest

from flowkit import Cron, DefinitionError, FileArrival, Flow, Periodic


def test_the_options_reach_the_flows_spec():
    schedule = Cron("0 0 3 * * ?", timezone="Europe/Amsterdam")
    flow = Flow("ops", schedule=schedule, max_concurrent_runs=3, queue=False, timeout=3600)

    spec = flow.spec()
    assert (spec.schedule, spec.trigger, spec.fires) == (schedule, None, schedule)
    assert (spec.max_concurrent_runs, spec.queue, spec.timeout) == (3, False, 3600)
    assert flow.schedule is schedule


def test_defaults_are_databricks_one_run_at_a_time_queued_and_no_timeout():
    spec = Flow("plain").spec()
    assert (spec.schedule, spec.trigger, spec.fires) == (None, None, None)
    assert (spec.max_concurrent_runs, spec.queue, spec.timeout) == (1, True, None)


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (
            {"schedule": Cron("0 3 * * *"), "trigger": Periodic(hours=1)},
            ["schedule=", "trigger=", "one of them"],
        ),
        ({"max_concurrent_runs": 0}, ["max_concurrent_runs=0", "an integer >= 1"]),
        ({"max_concurrent_runs": True}, ["max_concurrent_runs=True"]),
        ({"timeout": -5}, ["timeout=-5", "seconds > 0"]),
        ({"timeout": "1h"}, ["timeout='1h'"]),
        ({"queue": "yes"}, ["queue='yes'", "True", "False"]),
        ({"schedule": "0 3 * * *"}, ["schedule='0 3 * * *'", "Cron("]),
        ({"trigger": Cron("0 3 * * *")}, ["trigger=Cron(", "schedule="]),
    ],
)
def test_each_invalid_option_names_the_flow_the_option_the_value_and_what_is_allowed(
    options, words
):
    with pytest.raises(DefinitionError) as raised:
        Flow("ops", **options)
    message = str(raised.value)
    assert "flow 'ops'" in message
    for word in words:
        assert word in message


@pytest.mark.parametrize(
    ("build", "words"),
    [
        (lambda: Cron("0 3 * *"), ["'0 3 * *'", "4 fields", "Quartz"]),
        (lambda: Cron("61 3 * * *"), ["'61 3 * * *'"]),
        (lambda: Cron("0 0 3 ? * 8"), ["'8'", "1-7"]),
        (lambda: Cron("0 0 3 5 * 2"), ["'?'"]),
        (lambda: Cron("0 3 * * *", timezone="Mars/Olympus"), ["'Mars/Olympus'", "IANA"]),
        (lambda: Cron("0 3 * * *", catchup="all"), ["catchup='all'", "'latest'"]),
        (Periodic, ["interval is zero"]),
        (lambda: Periodic(minutes=-1), ["minutes=-1"]),
        (lambda: FileArrival(""), ["folder=''"]),
        (lambda: FileArrival("/in", wait_after_last_change=-1), ["wait_after_last_change=-1"]),
    ],
)
def test_a_bad_schedule_or_trigger_is_a_definition_error_naming_the_value(build, words):
    with pytest.raises(DefinitionError) as raised:
        build()
    for word in words:
        assert word in str(raised.value)


def test_triggers_describe_themselves_and_compute_periodic_fires():
    import datetime

    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    every_90_minutes = Periodic(hours=1, minutes=30)
    assert every_90_minutes.interval == 5400
    assert every_90_minutes.describe() == "every 90m"
    after = start + datetime.timedelta(hours=2)
    fires = every_90_minutes.next_fire_times(after, 2, anchor=start)
    assert fires == [start + datetime.timedelta(hours=3), start + datetime.timedelta(hours=4.5)]
    assert FileArrival("/landing").describe() == "files arriving in /landing"
