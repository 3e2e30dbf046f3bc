"""Cron fire times, checked by hand against the 2026 calendar and the zones' DST rules.

2026: Jan 1 is a Thursday; Mar 1 a Sunday; Aug 1 a Saturday; Feb 15 a Sunday.
Europe/Amsterdam: CET (+01) -> CEST (+02) on Sun Mar 29 at 02:00; back on Sun Oct 25 at 03:00.
America/New_York: EST (-05) -> EDT (-04) on Sun Mar 8 at 02:00; back on Sun Nov 1 at 02:00.
Each row: expression, zone, after (UTC), the next fires (UTC).
"""

from __future__ import annotations

import datetime
import itertools
import zoneinfo

import pytest

from flowkit import Cron, DefinitionError

UTC = datetime.timezone.utc


def utc(month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0):
    return datetime.datetime(2026, month, day, hour, minute, second, tzinfo=UTC)


TABLE = [
    # -- Unix cron: five fields -------------------------------------------------------------
    # weekdays by name, from a Friday after 09:00
    ("0 9 * * MON-FRI", "UTC", utc(1, 2, 10), [utc(1, 5, 9), utc(1, 6, 9)]),
    # day-of-week 7 is Sunday, as 0 is
    ("0 12 * * 7", "UTC", utc(1, 1), [utc(1, 4, 12), utc(1, 11, 12)]),
    ("0 12 * * 0", "UTC", utc(1, 1), [utc(1, 4, 12), utc(1, 11, 12)]),
    # day-of-month and day-of-week both restricted: either matches (Fridays, and the 13th)
    (
        "0 0 13 * 5",
        "UTC",
        utc(4, 1),
        [utc(4, 3), utc(4, 10), utc(4, 13), utc(4, 17), utc(4, 24)],
    ),
    # a step over a range, and a step over all
    (
        "10-40/10 8 * * *",
        "UTC",
        utc(1, 1),
        [utc(1, 1, 8, 10), utc(1, 1, 8, 20), utc(1, 1, 8, 30), utc(1, 1, 8, 40), utc(1, 2, 8, 10)],
    ),
    ("*/15 * * * *", "UTC", utc(1, 1, 0, 1), [utc(1, 1, 0, 15), utc(1, 1, 0, 30)]),
    # month names in a list
    (
        "0 6 1 JAN,JUL *",
        "UTC",
        utc(1, 1, 7),
        [utc(7, 1, 6), datetime.datetime(2027, 1, 1, 6, tzinfo=UTC)],
    ),
    # -- Quartz: six or seven fields, seconds first, day-of-week 1-7 = SUN-SAT ---------------
    # 1 is Sunday in Quartz (Monday in Unix)
    ("0 0 3 ? * 1", "UTC", utc(1, 1), [utc(1, 4, 3), utc(1, 11, 3)]),
    # 2-6 is MON-FRI
    ("0 0 3 ? * 2-6", "UTC", utc(1, 2), [utc(1, 2, 3), utc(1, 5, 3), utc(1, 6, 3)]),
    ("0 0 3 ? * MON-FRI", "UTC", utc(1, 2), [utc(1, 2, 3), utc(1, 5, 3), utc(1, 6, 3)]),
    # seconds
    ("*/20 0 0 * * ?", "UTC", utc(1, 1), [utc(1, 1, 0, 0, 20), utc(1, 1, 0, 0, 40), utc(1, 2)]),
    # L: the last day of the month (February has 28 days in 2026)
    ("0 0 3 L * ?", "UTC", utc(1, 31, 4), [utc(2, 28, 3), utc(3, 31, 3), utc(4, 30, 3)]),
    # 15W: the weekday nearest the 15th. Feb 15 is a Sunday (-> Mon 16th), Aug 15 a
    # Saturday (-> Fri 14th)
    ("0 0 3 15W * ?", "UTC", utc(2, 1), [utc(2, 16, 3), utc(3, 16, 3)]),
    ("0 0 3 15W * ?", "UTC", utc(8, 1), [utc(8, 14, 3), utc(9, 15, 3)]),
    # 1W when the 1st is a Saturday: Monday the 3rd, never the month before
    ("0 0 3 1W * ?", "UTC", utc(7, 15), [utc(8, 3, 3), utc(9, 1, 3)]),
    # 6#3: the third Friday
    ("0 0 3 ? * 6#3", "UTC", utc(1, 1), [utc(1, 16, 3), utc(2, 20, 3), utc(3, 20, 3)]),
    # 6L: the last Friday
    ("0 0 3 ? * 6L", "UTC", utc(1, 1), [utc(1, 30, 3), utc(2, 27, 3), utc(3, 27, 3)]),
    # a year field: only 2027
    (
        "0 0 3 1 1 ? 2027",
        "UTC",
        utc(1, 1),
        [datetime.datetime(2027, 1, 1, 3, tzinfo=UTC)],
    ),
    # -- DST: a daily job fires exactly once every local day ----------------------------------
    # Amsterdam, spring: 02:30 does not exist on Mar 29 -> 03:00 CEST (01:00Z)
    (
        "30 2 * * *",
        "Europe/Amsterdam",
        utc(3, 27, 12),
        [utc(3, 28, 1, 30), utc(3, 29, 1, 0), utc(3, 30, 0, 30)],
    ),
    # Amsterdam, autumn: 02:30 occurs twice on Oct 25 -> once, at the first (CEST, 00:30Z)
    (
        "30 2 * * *",
        "Europe/Amsterdam",
        utc(10, 23, 12),
        [utc(10, 24, 0, 30), utc(10, 25, 0, 30), utc(10, 26, 1, 30)],
    ),
    # Quartz in Amsterdam: 03:00 exists once on Oct 25 (CET after the change, 02:00Z)
    (
        "0 0 3 * * ?",
        "Europe/Amsterdam",
        utc(10, 24, 12),
        [utc(10, 25, 2), utc(10, 26, 2)],
    ),
    # New York, spring: 02:30 does not exist on Mar 8 -> 03:00 EDT (07:00Z)
    (
        "30 2 * * *",
        "America/New_York",
        utc(3, 6, 12),
        [utc(3, 7, 7, 30), utc(3, 8, 7, 0), utc(3, 9, 6, 30)],
    ),
    # New York, autumn: 01:30 occurs twice on Nov 1 -> once, EDT (05:30Z)
    (
        "30 1 * * *",
        "America/New_York",
        utc(10, 30, 12),
        [utc(10, 31, 5, 30), utc(11, 1, 5, 30), utc(11, 2, 6, 30)],
    ),
    # every 15 minutes across New York's gap: one fire at its end, none doubled
    (
        "*/15 * * * *",
        "America/New_York",
        utc(3, 8, 6, 40),
        [utc(3, 8, 6, 45), utc(3, 8, 7, 0), utc(3, 8, 7, 15)],
    ),
    # hourly, `after` inside Amsterdam's repeated hour (02:10 CET, the second pass):
    # 02:00 fired at its first occurrence already; next is 03:00 CET
    ("0 * * * *", "Europe/Amsterdam", utc(10, 25, 1, 10), [utc(10, 25, 2), utc(10, 25, 3)]),
    # UTC has no change: 02:30 every day
    ("30 2 * * *", "UTC", utc(3, 28, 12), [utc(3, 29, 2, 30), utc(3, 30, 2, 30)]),
    ("0 30 2 * * ?", "UTC", utc(10, 24, 12), [utc(10, 25, 2, 30), utc(10, 26, 2, 30)]),
]


@pytest.mark.parametrize(("expression", "zone", "after", "expected"), TABLE)
def test_fire_times_match_the_hand_checked_table(expression, zone, after, expected):
    fires = Cron(expression, timezone=zone).next_fire_times(after, len(expected))

    assert [fire.astimezone(UTC) for fire in fires] == expected
    assert all(fire.tzinfo == zoneinfo.ZoneInfo(zone) for fire in fires)  # in the schedule's zone


def test_fires_are_strictly_after_increasing_and_as_many_as_asked():
    cron = Cron("0 * * * *", timezone="Europe/Amsterdam")
    after = utc(10, 24, 20)
    fires = cron.next_fire_times(after, 30)

    assert len(fires) == 30
    assert fires[0] > after
    assert all(earlier < later for earlier, later in itertools.pairwise(fires))


def test_a_daily_job_fires_once_every_local_day_of_2026_in_three_zones():
    for zone in ("Europe/Amsterdam", "America/New_York", "UTC"):
        local = zoneinfo.ZoneInfo(zone)
        fires = Cron("30 2 * * *", timezone=zone).next_fire_times(
            utc(1, 1) - datetime.timedelta(days=1), 366
        )
        days = [fire.astimezone(local).date() for fire in fires]
        in_2026 = [day for day in days if day.year == 2026]
        assert len(in_2026) == 365
        assert len(set(in_2026)) == 365


def test_after_must_be_aware():
    with pytest.raises(ValueError, match="timezone-aware"):
        Cron("0 3 * * *").next_fire_times(datetime.datetime(2026, 1, 1), 1)


@pytest.mark.parametrize(
    "expression", ["", "* * * *", "0 0 0 0 0 0 0 0", "60 * * * *", "0 0 3 LW * ?", "0 0 3 L-3 * ?"]
)
def test_expressions_flowkit_cannot_read_are_definition_errors(expression):
    with pytest.raises(DefinitionError, match="Cron"):
        Cron(expression)
