"""Cron.next_fire_times against a table of fire times checked by hand.

Every expectation below was worked out from a calendar and the zones' rules, not by
running a cron library. The facts used:

2026: Jan 1 is a Thursday, Feb 1 a Sunday, Mar 1 a Sunday, Apr 1 a Wednesday, May 1 a
Friday, Aug 1 a Saturday, Oct 1 a Thursday, Nov 1 a Sunday. 2028 is a leap year.

Europe/Amsterdam: CET = UTC+1, CEST = UTC+2. Sun 2026-03-29 02:00 CET -> 03:00 CEST
(local 02:00-02:59 does not exist); Sun 2026-10-25 03:00 CEST -> 02:00 CET (local
02:00-02:59 happens twice: first at 00:00-00:59Z, again at 01:00-01:59Z).
America/New_York: EST = UTC-5, EDT = UTC-4. Sun 2026-03-08 02:00 EST -> 03:00 EDT (local
02:00-02:59 does not exist); Sun 2026-11-01 02:00 EDT -> 01:00 EST (local 01:00-01:59
happens twice: first at 05:00-05:59Z, again at 06:00-06:59Z).

The DST rules under test: a local time that does not exist fires at the first instant
after the gap (several such times collapse into that one fire); a local time that happens
twice fires once, at its first occurrence.

Table rows: (expression, zone, after as a UTC instant, expected fires). An expected fire
is either ``"YYYY-MM-DD HH:MM[:SS]"`` for a UTC schedule (wall time = UTC instant) or a
pair ``(local wall time, UTC instant "…Z")``.
"""

from __future__ import annotations

import datetime
import itertools
import zoneinfo

import pytest

from flowkit import Cron
from flowkit._definition.schedules import Cron as CronFromModule
from flowkit._errors import DefinitionError

UTC = datetime.timezone.utc
AMS = "Europe/Amsterdam"
NY = "America/New_York"


def _naive(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.removesuffix("Z"))


def _utc(text: str) -> datetime.datetime:
    return _naive(text).replace(tzinfo=UTC)


def _fires(cron: Cron, after: datetime.datetime, count: int) -> list[datetime.datetime]:
    return cron.next_fire_times(after=after, count=count)


TABLE = [
    # -- Unix cron, five fields, UTC ------------------------------------------------------------
    # weekday names in a range; after Friday's 09:00, so Monday comes next
    (
        "0 9 * * MON-FRI",
        "UTC",
        "2026-01-02 10:00",
        ["2026-01-05 09:00", "2026-01-06 09:00", "2026-01-07 09:00"],
    ),
    # a list of weekday names: Sat Jan 3, Sun Jan 4, Sat Jan 10, Sun Jan 11
    (
        "0 0 * * SAT,SUN",
        "UTC",
        "2026-01-01 00:00",
        ["2026-01-03 00:00", "2026-01-04 00:00", "2026-01-10 00:00", "2026-01-11 00:00"],
    ),
    # dow 7 is Sunday (Jan 4, Jan 11)
    ("0 12 * * 7", "UTC", "2026-01-01 00:00", ["2026-01-04 12:00", "2026-01-11 12:00"]),
    # dow 0 is Sunday too
    ("0 12 * * 0", "UTC", "2026-01-01 00:00", ["2026-01-04 12:00", "2026-01-11 12:00"]),
    # a range ending in 7: Fri, Sat, Sun; from Thursday 13:00
    (
        "0 12 * * 5-7",
        "UTC",
        "2026-01-01 13:00",
        ["2026-01-02 12:00", "2026-01-03 12:00", "2026-01-04 12:00", "2026-01-09 12:00"],
    ),
    # Unix dow 1 is Monday (contrast Quartz 1 = Sunday below)
    ("0 3 * * 1", "UTC", "2026-01-01 00:00", ["2026-01-05 03:00", "2026-01-12 03:00"]),
    # dom and dow both restricted: either matches. May 2026: Fridays 1, 8, 15, 22; 13th a Wed
    (
        "0 0 13 * 5",
        "UTC",
        "2026-04-30 12:00",
        [
            "2026-05-01 00:00",
            "2026-05-08 00:00",
            "2026-05-13 00:00",
            "2026-05-15 00:00",
            "2026-05-22 00:00",
        ],
    ),
    # dom list OR Monday; `after` is exactly Jan 1 00:00, which is excluded (strictly after)
    (
        "0 0 1,15 * MON",
        "UTC",
        "2026-01-01 00:00",
        [
            "2026-01-05 00:00",  # Mon
            "2026-01-12 00:00",  # Mon
            "2026-01-15 00:00",  # the 15th, a Thursday
            "2026-01-19 00:00",  # Mon
            "2026-01-26 00:00",  # Mon
            "2026-02-01 00:00",  # the 1st, a Sunday
        ],
    ),
    # dom only (dow *): the 31st, skipping months without one
    (
        "0 0 31 * *",
        "UTC",
        "2026-01-01 00:00",
        ["2026-01-31 00:00", "2026-03-31 00:00", "2026-05-31 00:00", "2026-07-31 00:00"],
    ),
    # Feb 29: the next two leap years
    ("0 0 29 2 *", "UTC", "2026-01-01 00:00", ["2028-02-29 00:00", "2032-02-29 00:00"]),
    # a range in dom
    (
        "0 0 1-3 * *",
        "UTC",
        "2026-01-02 12:00",
        ["2026-01-03 00:00", "2026-02-01 00:00", "2026-02-02 00:00"],
    ),
    # a step over all minutes
    (
        "*/15 * * * *",
        "UTC",
        "2026-01-01 00:01",
        ["2026-01-01 00:15", "2026-01-01 00:30", "2026-01-01 00:45", "2026-01-01 01:00"],
    ),
    # a step over a range
    (
        "10-40/10 8 * * *",
        "UTC",
        "2026-01-01 00:00",
        [
            "2026-01-01 08:10",
            "2026-01-01 08:20",
            "2026-01-01 08:30",
            "2026-01-01 08:40",
            "2026-01-02 08:10",
        ],
    ),
    # a step in hours
    (
        "0 */6 * * *",
        "UTC",
        "2026-01-01 01:00",
        ["2026-01-01 06:00", "2026-01-01 12:00", "2026-01-01 18:00", "2026-01-02 00:00"],
    ),
    # a list of hours
    (
        "0 6,18 * * *",
        "UTC",
        "2026-01-01 07:00",
        ["2026-01-01 18:00", "2026-01-02 06:00", "2026-01-02 18:00"],
    ),
    # month names in a list, crossing into 2027
    ("0 6 1 JAN,JUL *", "UTC", "2026-01-01 07:00", ["2026-07-01 06:00", "2027-01-01 06:00"]),
    # month names in a range
    (
        "0 0 1 JAN-MAR *",
        "UTC",
        "2026-01-01 00:00",
        ["2026-02-01 00:00", "2026-03-01 00:00", "2027-01-01 00:00"],
    ),
    # -- Unix cron in a zone ----------------------------------------------------------------------
    # New York weekdays at 09:00 across the spring change (EST -5 on Fri, EDT -4 from Mon)
    (
        "0 9 * * MON-FRI",
        NY,
        "2026-03-05 15:00",
        [
            ("2026-03-06 09:00", "2026-03-06 14:00Z"),
            ("2026-03-09 09:00", "2026-03-09 13:00Z"),
            ("2026-03-10 09:00", "2026-03-10 13:00Z"),
        ],
    ),
    # -- Quartz, six or seven fields: sec min hour dom month dow [year]; dow 1-7 = SUN-SAT ------
    # a list of seconds, every minute
    (
        "15,45 * * * * ?",
        "UTC",
        "2026-01-01 00:00",
        ["2026-01-01 00:00:15", "2026-01-01 00:00:45", "2026-01-01 00:01:15"],
    ),
    # a step in seconds inside one minute; `after` is a fire time itself and is excluded
    (
        "*/20 0 12 * * ?",
        "UTC",
        "2026-01-01 12:00",
        ["2026-01-01 12:00:20", "2026-01-01 12:00:40", "2026-01-02 12:00:00"],
    ),
    # daily, `?` in dow; `after` exactly on a fire
    ("0 0 3 * * ?", "UTC", "2026-01-01 03:00", ["2026-01-02 03:00", "2026-01-03 03:00"]),
    # Quartz dow 1 is Sunday
    ("0 0 3 ? * 1", "UTC", "2026-01-01 00:00", ["2026-01-04 03:00", "2026-01-11 03:00"]),
    # Quartz dow 2 is Monday
    ("0 0 3 ? * 2", "UTC", "2026-01-01 00:00", ["2026-01-05 03:00", "2026-01-12 03:00"]),
    # Quartz dow 7 is Saturday
    ("0 0 3 ? * 7", "UTC", "2026-01-01 00:00", ["2026-01-03 03:00", "2026-01-10 03:00"]),
    # Quartz 2-6 is MON-FRI: Fri Jan 2, Mon Jan 5, Tue Jan 6
    (
        "0 0 3 ? * 2-6",
        "UTC",
        "2026-01-02 00:00",
        ["2026-01-02 03:00", "2026-01-05 03:00", "2026-01-06 03:00"],
    ),
    # the same by name
    (
        "0 0 3 ? * MON-FRI",
        "UTC",
        "2026-01-02 00:00",
        ["2026-01-02 03:00", "2026-01-05 03:00", "2026-01-06 03:00"],
    ),
    # a list of day names
    (
        "0 15 10 ? * SAT,SUN",
        "UTC",
        "2026-01-01 00:00",
        ["2026-01-03 10:15", "2026-01-04 10:15", "2026-01-10 10:15"],
    ),
    # month names, `?` in dow
    ("0 0 6 1 JAN,JUL ?", "UTC", "2026-01-01 07:00", ["2026-07-01 06:00", "2027-01-01 06:00"]),
    # L in dom: last day of each month (Feb 2026 has 28 days)
    (
        "0 0 12 L * ?",
        "UTC",
        "2026-01-01 00:00",
        ["2026-01-31 12:00", "2026-02-28 12:00", "2026-03-31 12:00", "2026-04-30 12:00"],
    ),
    # L in February of a leap year, chosen with the year field
    ("0 0 12 L 2 ? 2028", "UTC", "2026-01-01 00:00", ["2028-02-29 12:00"]),
    # 15W: nearest weekday to the 15th
    (
        "0 0 9 15W * ?",
        "UTC",
        "2026-01-01 00:00",
        [
            "2026-01-15 09:00",  # Thu 15th itself
            "2026-02-16 09:00",  # 15th is a Sunday -> Monday 16th
            "2026-03-16 09:00",  # 15th is a Sunday -> Monday 16th
            "2026-04-15 09:00",  # Wed 15th itself
        ],
    ),
    (
        "0 0 9 15W * ?",
        "UTC",
        "2026-08-01 00:00",
        [
            "2026-08-14 09:00",  # 15th is a Saturday -> Friday 14th
            "2026-09-15 09:00",  # Tue 15th itself
        ],
    ),
    # 1W never leaves the month
    (
        "0 0 9 1W * ?",
        "UTC",
        "2026-07-02 00:00",
        [
            "2026-08-03 09:00",  # 1st is a Saturday -> Monday 3rd (not Fri Jul 31)
            "2026-09-01 09:00",  # Tue 1st itself
            "2026-10-01 09:00",  # Thu 1st itself
            "2026-11-02 09:00",  # 1st is a Sunday -> Monday 2nd
        ],
    ),
    # 31W when the 31st is a Sunday: Friday 29th (not Mon Jun 1)
    ("0 0 9 31W * ?", "UTC", "2026-05-01 00:00", ["2026-05-29 09:00"]),
    # 6#3: third Friday (Jan: 2, 9, 16; Feb: 6, 13, 20; Mar: 6, 13, 20)
    (
        "0 0 10 ? * 6#3",
        "UTC",
        "2026-01-01 00:00",
        ["2026-01-16 10:00", "2026-02-20 10:00", "2026-03-20 10:00"],
    ),
    # the same in New York: EST until Mar 8, EDT after
    (
        "0 0 10 ? * 6#3",
        NY,
        "2026-01-01 00:00",
        [
            ("2026-01-16 10:00", "2026-01-16 15:00Z"),
            ("2026-02-20 10:00", "2026-02-20 15:00Z"),
            ("2026-03-20 10:00", "2026-03-20 14:00Z"),
        ],
    ),
    # 2#1: first Monday (Mar 1 is a Sunday, so Mar 2)
    (
        "0 0 10 ? * 2#1",
        "UTC",
        "2026-01-01 00:00",
        ["2026-01-05 10:00", "2026-02-02 10:00", "2026-03-02 10:00"],
    ),
    # 6L: last Friday, in Amsterdam (CET until Mar 29, CEST in April)
    (
        "0 0 18 ? * 6L",
        AMS,
        "2026-01-01 00:00",
        [
            ("2026-01-30 18:00", "2026-01-30 17:00Z"),
            ("2026-02-27 18:00", "2026-02-27 17:00Z"),
            ("2026-03-27 18:00", "2026-03-27 17:00Z"),
            ("2026-04-24 18:00", "2026-04-24 16:00Z"),
        ],
    ),
    # the year field: one year
    ("0 0 12 1 MAY ? 2027", "UTC", "2026-01-01 00:00", ["2027-05-01 12:00"]),
    # the year field as a range, in Amsterdam (CEST in May)
    (
        "0 0 12 1 MAY ? 2027-2028",
        AMS,
        "2026-01-01 00:00",
        [("2027-05-01 12:00", "2027-05-01 10:00Z"), ("2028-05-01 12:00", "2028-05-01 10:00Z")],
    ),
    # -- DST, Amsterdam, spring forward (Sun 2026-03-29, 02:00-02:59 does not exist) -------------
    # daily 02:30: once every local day; on the change day at 03:00 CEST = 01:00Z
    (
        "30 2 * * *",
        AMS,
        "2026-03-27 12:00",
        [
            ("2026-03-28 02:30", "2026-03-28 01:30Z"),
            ("2026-03-29 03:00", "2026-03-29 01:00Z"),
            ("2026-03-30 02:30", "2026-03-30 00:30Z"),
            ("2026-03-31 02:30", "2026-03-31 00:30Z"),
        ],
    ),
    # the same in Quartz
    (
        "0 30 2 * * ?",
        AMS,
        "2026-03-27 12:00",
        [
            ("2026-03-28 02:30", "2026-03-28 01:30Z"),
            ("2026-03-29 03:00", "2026-03-29 01:00Z"),
            ("2026-03-30 02:30", "2026-03-30 00:30Z"),
            ("2026-03-31 02:30", "2026-03-31 00:30Z"),
        ],
    ),
    # daily 02:00 (the gap's first minute) -> 03:00 CEST
    (
        "0 2 * * *",
        AMS,
        "2026-03-28 12:00",
        [("2026-03-29 03:00", "2026-03-29 01:00Z"), ("2026-03-30 02:00", "2026-03-30 00:00Z")],
    ),
    # daily 03:00 exists on the change day (CEST)
    (
        "0 3 * * *",
        AMS,
        "2026-03-28 12:00",
        [("2026-03-29 03:00", "2026-03-29 01:00Z"), ("2026-03-30 03:00", "2026-03-30 01:00Z")],
    ),
    # every 15 min across the gap: 02:00, 02:15, 02:30, 02:45 collapse into 03:00, which also
    # matches by itself: one fire there, no duplicate
    (
        "*/15 * * * *",
        AMS,
        "2026-03-29 00:30",  # 01:30 CET
        [
            ("2026-03-29 01:45", "2026-03-29 00:45Z"),
            ("2026-03-29 03:00", "2026-03-29 01:00Z"),
            ("2026-03-29 03:15", "2026-03-29 01:15Z"),
            ("2026-03-29 03:30", "2026-03-29 01:30Z"),
        ],
    ),
    # three times, all in the gap, and 03:00 does not match: one fire at 03:00 CEST
    (
        "*/20 2 * * *",
        AMS,
        "2026-03-28 12:00",
        [
            ("2026-03-29 03:00", "2026-03-29 01:00Z"),
            ("2026-03-30 02:00", "2026-03-30 00:00Z"),
            ("2026-03-30 02:20", "2026-03-30 00:20Z"),
            ("2026-03-30 02:40", "2026-03-30 00:40Z"),
        ],
    ),
    # hourly at :30: 02:30 is in the gap -> 03:00, then 03:30, 04:30
    (
        "30 * * * *",
        AMS,
        "2026-03-29 00:45",  # 01:45 CET
        [
            ("2026-03-29 03:00", "2026-03-29 01:00Z"),
            ("2026-03-29 03:30", "2026-03-29 01:30Z"),
            ("2026-03-29 04:30", "2026-03-29 02:30Z"),
        ],
    ),
    # hourly on the hour: 02:00 collapses into 03:00, which matches anyway: once
    (
        "0 * * * *",
        AMS,
        "2026-03-29 00:30",  # 01:30 CET
        [("2026-03-29 03:00", "2026-03-29 01:00Z"), ("2026-03-29 04:00", "2026-03-29 02:00Z")],
    ),
    # weekly on Sundays 02:30 (Quartz by name): the change day is a Sunday
    (
        "0 30 2 ? * SUN",
        AMS,
        "2026-03-20 12:00",
        [
            ("2026-03-22 02:30", "2026-03-22 01:30Z"),
            ("2026-03-29 03:00", "2026-03-29 01:00Z"),
            ("2026-04-05 02:30", "2026-04-05 00:30Z"),
        ],
    ),
    # -- DST, Amsterdam, fall back (Sun 2026-10-25, 02:00-02:59 twice) ---------------------------
    # daily 02:30: on the change day once, the first (CEST) 02:30 = 00:30Z, not 01:30Z
    (
        "30 2 * * *",
        AMS,
        "2026-10-23 12:00",
        [
            ("2026-10-24 02:30", "2026-10-24 00:30Z"),
            ("2026-10-25 02:30", "2026-10-25 00:30Z"),
            ("2026-10-26 02:30", "2026-10-26 01:30Z"),
            ("2026-10-27 02:30", "2026-10-27 01:30Z"),
        ],
    ),
    # the same in Quartz
    (
        "0 30 2 * * ?",
        AMS,
        "2026-10-23 12:00",
        [
            ("2026-10-24 02:30", "2026-10-24 00:30Z"),
            ("2026-10-25 02:30", "2026-10-25 00:30Z"),
            ("2026-10-26 02:30", "2026-10-26 01:30Z"),
            ("2026-10-27 02:30", "2026-10-27 01:30Z"),
        ],
    ),
    # daily 03:00: on the change day 03:00 exists once, in CET (02:00Z)
    (
        "0 3 * * *",
        AMS,
        "2026-10-23 12:00",
        [
            ("2026-10-24 03:00", "2026-10-24 01:00Z"),
            ("2026-10-25 03:00", "2026-10-25 02:00Z"),
            ("2026-10-26 03:00", "2026-10-26 02:00Z"),
        ],
    ),
    # hourly across the change: the repeated 02:00 fires once (00:00Z), not again at 01:00Z
    (
        "0 * * * *",
        AMS,
        "2026-10-24 22:30",  # 00:30 CEST on the 25th
        [
            ("2026-10-25 01:00", "2026-10-24 23:00Z"),
            ("2026-10-25 02:00", "2026-10-25 00:00Z"),
            ("2026-10-25 03:00", "2026-10-25 02:00Z"),
            ("2026-10-25 04:00", "2026-10-25 03:00Z"),
        ],
    ),
    # every 15 min across the change: the four repeated quarters fire in the first pass only
    (
        "*/15 * * * *",
        AMS,
        "2026-10-24 23:50",  # 01:50 CEST on the 25th
        [
            ("2026-10-25 02:00", "2026-10-25 00:00Z"),
            ("2026-10-25 02:15", "2026-10-25 00:15Z"),
            ("2026-10-25 02:30", "2026-10-25 00:30Z"),
            ("2026-10-25 02:45", "2026-10-25 00:45Z"),
            ("2026-10-25 03:00", "2026-10-25 02:00Z"),
        ],
    ),
    # weekly on Sundays 02:30 (Quartz by name): the change day is a Sunday
    (
        "0 30 2 ? * SUN",
        AMS,
        "2026-10-17 12:00",
        [
            ("2026-10-18 02:30", "2026-10-18 00:30Z"),
            ("2026-10-25 02:30", "2026-10-25 00:30Z"),
            ("2026-11-01 02:30", "2026-11-01 01:30Z"),
        ],
    ),
    # `after` in the repeated hour, first pass, before the fire: fires at 00:30Z, then tomorrow
    (
        "30 2 * * *",
        AMS,
        "2026-10-25 00:10",  # 02:10 CEST
        [("2026-10-25 02:30", "2026-10-25 00:30Z"), ("2026-10-26 02:30", "2026-10-26 01:30Z")],
    ),
    # `after` in the repeated hour, first pass, after the fire: the second 02:30 does not fire
    (
        "30 2 * * *",
        AMS,
        "2026-10-25 00:45",  # 02:45 CEST
        [("2026-10-26 02:30", "2026-10-26 01:30Z")],
    ),
    # `after` in the repeated hour, second pass, before its 02:30: still no second fire
    (
        "30 2 * * *",
        AMS,
        "2026-10-25 01:10",  # 02:10 CET
        [("2026-10-26 02:30", "2026-10-26 01:30Z")],
    ),
    # `after` in the second pass of the repeated hour, hourly job: next is 03:00 CET
    (
        "0 * * * *",
        AMS,
        "2026-10-25 01:30",  # 02:30 CET
        [("2026-10-25 03:00", "2026-10-25 02:00Z"), ("2026-10-25 04:00", "2026-10-25 03:00Z")],
    ),
    # `after` late in the first pass, every 15 min: the second pass's quarters are skipped
    (
        "*/15 * * * *",
        AMS,
        "2026-10-25 00:50",  # 02:50 CEST
        [("2026-10-25 03:00", "2026-10-25 02:00Z"), ("2026-10-25 03:15", "2026-10-25 02:15Z")],
    ),
    # -- DST, New York, spring forward (Sun 2026-03-08, 02:00-02:59 does not exist) --------------
    # daily 02:30: on the change day at 03:00 EDT = 07:00Z
    (
        "30 2 * * *",
        NY,
        "2026-03-06 12:00",
        [
            ("2026-03-07 02:30", "2026-03-07 07:30Z"),
            ("2026-03-08 03:00", "2026-03-08 07:00Z"),
            ("2026-03-09 02:30", "2026-03-09 06:30Z"),
            ("2026-03-10 02:30", "2026-03-10 06:30Z"),
        ],
    ),
    # the same in Quartz
    (
        "0 30 2 * * ?",
        NY,
        "2026-03-06 12:00",
        [
            ("2026-03-07 02:30", "2026-03-07 07:30Z"),
            ("2026-03-08 03:00", "2026-03-08 07:00Z"),
            ("2026-03-09 02:30", "2026-03-09 06:30Z"),
            ("2026-03-10 02:30", "2026-03-10 06:30Z"),
        ],
    ),
    # every 15 min across the gap: one fire at 03:00 EDT
    (
        "*/15 * * * *",
        NY,
        "2026-03-08 06:30",  # 01:30 EST
        [
            ("2026-03-08 01:45", "2026-03-08 06:45Z"),
            ("2026-03-08 03:00", "2026-03-08 07:00Z"),
            ("2026-03-08 03:15", "2026-03-08 07:15Z"),
            ("2026-03-08 03:30", "2026-03-08 07:30Z"),
        ],
    ),
    # -- DST, New York, fall back (Sun 2026-11-01, 01:00-01:59 twice) ----------------------------
    # daily 02:30 is not ambiguous here: EDT before, EST from the change day on
    (
        "30 2 * * *",
        NY,
        "2026-10-30 12:00",
        [
            ("2026-10-31 02:30", "2026-10-31 06:30Z"),
            ("2026-11-01 02:30", "2026-11-01 07:30Z"),
            ("2026-11-02 02:30", "2026-11-02 07:30Z"),
        ],
    ),
    # daily 01:30 is: once, the first (EDT) 01:30 = 05:30Z, not 06:30Z
    (
        "30 1 * * *",
        NY,
        "2026-10-30 12:00",
        [
            ("2026-10-31 01:30", "2026-10-31 05:30Z"),
            ("2026-11-01 01:30", "2026-11-01 05:30Z"),
            ("2026-11-02 01:30", "2026-11-02 06:30Z"),
        ],
    ),
    # hourly across the change: the repeated 01:00 fires once (05:00Z), not again at 06:00Z
    (
        "0 * * * *",
        NY,
        "2026-11-01 04:30",  # 00:30 EDT
        [
            ("2026-11-01 01:00", "2026-11-01 05:00Z"),
            ("2026-11-01 02:00", "2026-11-01 07:00Z"),
            ("2026-11-01 03:00", "2026-11-01 08:00Z"),
        ],
    ),
    # `after` in the repeated hour, first pass, after the fire: next is tomorrow
    (
        "30 1 * * *",
        NY,
        "2026-11-01 05:45",  # 01:45 EDT
        [("2026-11-02 01:30", "2026-11-02 06:30Z")],
    ),
    # `after` in the repeated hour, second pass, before its 01:30: no second fire
    (
        "30 1 * * *",
        NY,
        "2026-11-01 06:10",  # 01:10 EST
        [("2026-11-02 01:30", "2026-11-02 06:30Z")],
    ),
]


def _expected(item: str | tuple[str, str]) -> tuple[datetime.datetime, datetime.datetime]:
    """(local wall time, naive) and (UTC instant, aware) of one expected fire."""
    if isinstance(item, str):
        return _naive(item), _utc(item)
    local, instant = item
    return _naive(local), _utc(instant)


@pytest.mark.parametrize(
    ("expression", "zone", "after", "expected"),
    TABLE,
    ids=[f"{row[0]} | {row[1]} | after {row[2]}Z" for row in TABLE],
)
def test_fire_times(expression: str, zone: str, after: str, expected: list) -> None:
    fires = _fires(Cron(expression, timezone=zone), _utc(after), len(expected))
    got = [(fire.replace(tzinfo=None), fire.astimezone(UTC)) for fire in fires]
    assert got == [_expected(item) for item in expected]
    for fire in fires:
        assert isinstance(fire.tzinfo, zoneinfo.ZoneInfo)
        assert fire.tzinfo.key == zone


# -- LW and L-3: unsupported is fine, wrong is not ----------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # last weekday of the month: Jan 31 Sat -> Fri 30; Feb 28 Sat -> Fri 27; Mar 31 Tue;
        # Apr 30 Thu; May 31 Sun -> Fri 29
        (
            "0 0 12 LW * ?",
            [
                "2026-01-30 12:00",
                "2026-02-27 12:00",
                "2026-03-31 12:00",
                "2026-04-30 12:00",
                "2026-05-29 12:00",
            ],
        ),
        # three days before the last day: 31-3, 28-3, 31-3, 30-3
        (
            "0 0 12 L-3 * ?",
            ["2026-01-28 12:00", "2026-02-25 12:00", "2026-03-28 12:00", "2026-04-27 12:00"],
        ),
    ],
)
def test_unsupported_quartz_forms_raise_or_are_right(expression: str, expected: list[str]) -> None:
    try:
        fires = _fires(Cron(expression), _utc("2026-01-01 00:00"), len(expected))
    except DefinitionError as error:
        message = str(error)
        fires = None
    if fires is None:
        assert expression in message
    else:
        assert [fire.astimezone(UTC) for fire in fires] == [_utc(item) for item in expected]


# -- a daily job fires exactly once every local day ---------------------------------------------


@pytest.mark.parametrize("expression", ["30 2 * * *", "0 30 2 * * ?"])
@pytest.mark.parametrize(
    ("zone", "gap_day"),
    [("UTC", None), (AMS, datetime.date(2026, 3, 29)), (NY, datetime.date(2026, 3, 8))],
)
def test_daily_job_fires_once_every_local_day_of_2026(
    expression: str, zone: str, gap_day: datetime.date | None
) -> None:
    tz = zoneinfo.ZoneInfo(zone)
    after = datetime.datetime(2025, 12, 31, 12, 0, tzinfo=tz)
    fires = _fires(Cron(expression, timezone=zone), after, 365)
    first = datetime.date(2026, 1, 1)
    assert [fire.date() for fire in fires] == [
        first + datetime.timedelta(days=n) for n in range(365)
    ]
    for fire in fires:
        if fire.date() == gap_day:
            # 02:30 does not exist: the first instant after the gap, 03:00 summer time
            assert fire.time() == datetime.time(3, 0)
            expected = datetime.datetime.combine(fire.date(), datetime.time(3, 0), tzinfo=tz)
        else:
            assert fire.time() == datetime.time(2, 30)
            # fold=0: where 02:30 happened twice, the first one
            expected = datetime.datetime.combine(fire.date(), datetime.time(2, 30), tzinfo=tz)
        assert fire.astimezone(UTC) == expected.astimezone(UTC)


@pytest.mark.parametrize(
    ("zone", "day", "hours"),
    [
        # 23-hour day: 02:00 collapses into 03:00, which fires once
        (AMS, datetime.date(2026, 3, 29), [h for h in range(24) if h != 2]),
        # 25-hour day: the repeated 02:00 fires once
        (AMS, datetime.date(2026, 10, 25), list(range(24))),
        (NY, datetime.date(2026, 3, 8), [h for h in range(24) if h != 2]),
        (NY, datetime.date(2026, 11, 1), list(range(24))),
    ],
)
def test_hourly_job_on_change_days(zone: str, day: datetime.date, hours: list[int]) -> None:
    tz = zoneinfo.ZoneInfo(zone)
    after = datetime.datetime.combine(day, datetime.time(0, 0), tzinfo=tz) - datetime.timedelta(
        seconds=1
    )
    fires = [
        fire for fire in _fires(Cron("0 * * * *", timezone=zone), after, 30) if fire.date() == day
    ]
    assert [fire.hour for fire in fires] == hours
    assert all(fire.minute == 0 and fire.second == 0 for fire in fires)
    instants = [fire.astimezone(UTC) for fire in fires]
    assert instants == sorted(set(instants))


# -- the shape of the result ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "zone", "after"),
    [
        ("*/15 * * * *", AMS, "2026-03-28 20:00"),
        ("*/15 * * * *", AMS, "2026-10-24 20:00"),
        ("0 * * * *", NY, "2026-03-07 20:00"),
        ("0 * * * *", NY, "2026-10-31 20:00"),
        ("30 2 * * *", AMS, "2026-01-01 00:00"),
        ("*/20 * * * * ?", "UTC", "2026-01-01 00:00"),
        ("0 0 9 15W * ?", NY, "2026-01-01 00:00"),
    ],
)
def test_results_are_aware_in_the_zone_strictly_after_increasing(
    expression: str, zone: str, after: str
) -> None:
    start = _utc(after)
    fires = _fires(Cron(expression, timezone=zone), start, 200)
    assert len(fires) == 200
    for fire in fires:
        assert fire.tzinfo is not None
        assert fire.utcoffset() is not None
        assert isinstance(fire.tzinfo, zoneinfo.ZoneInfo)
        assert fire.tzinfo.key == zone
        assert fire.microsecond == 0
    instants = [fire.astimezone(UTC) for fire in fires]
    assert instants[0] > start
    assert all(a < b for a, b in itertools.pairwise(instants))


@pytest.mark.parametrize("count", [1, 2, 7, 50])
def test_count_is_respected(count: int) -> None:
    fires = _fires(Cron("0 12 * * *"), _utc("2026-01-01 00:00"), count)
    assert len(fires) == count
    assert fires[0].astimezone(UTC) == _utc("2026-01-01 12:00")
    assert fires[-1].astimezone(UTC) == _utc("2026-01-01 12:00") + datetime.timedelta(
        days=count - 1
    )


def test_strictly_after_to_the_microsecond() -> None:
    cron = Cron("0 9 * * *")
    just_before = _utc("2026-01-01 08:59:59.999999")
    just_after = _utc("2026-01-01 09:00:00.000001")
    assert _fires(cron, just_before, 1)[0].astimezone(UTC) == _utc("2026-01-01 09:00")
    assert _fires(cron, _utc("2026-01-01 09:00"), 1)[0].astimezone(UTC) == _utc("2026-01-02 09:00")
    assert _fires(cron, just_after, 1)[0].astimezone(UTC) == _utc("2026-01-02 09:00")


@pytest.mark.parametrize(
    "after",
    [
        datetime.datetime(2026, 3, 7, 12, 0, tzinfo=UTC),
        datetime.datetime(2026, 3, 7, 13, 0, tzinfo=zoneinfo.ZoneInfo(AMS)),
        datetime.datetime(2026, 3, 7, 7, 0, tzinfo=zoneinfo.ZoneInfo(NY)),
        datetime.datetime(2026, 3, 7, 21, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=9))),
    ],
    ids=["utc", "amsterdam", "new-york", "fixed+09"],
)
def test_after_in_any_zone_is_the_same_instant(after: datetime.datetime) -> None:
    # all four are 2026-03-07 12:00Z; the next two New York 02:30s straddle the spring gap
    fires = _fires(Cron("30 2 * * *", timezone=NY), after, 2)
    assert [fire.astimezone(UTC) for fire in fires] == [
        _utc("2026-03-08 07:00"),
        _utc("2026-03-09 06:30"),
    ]
    assert [fire.replace(tzinfo=None) for fire in fires] == [
        _naive("2026-03-08 03:00"),
        _naive("2026-03-09 02:30"),
    ]


@pytest.mark.parametrize(
    ("fold", "expected"),
    [
        # 02:10 CEST (00:10Z): the day's 02:30 is still ahead
        (0, ["2026-10-25 00:30", "2026-10-26 01:30"]),
        # 02:10 CET (01:10Z): the day's 02:30 already fired (00:30Z); none at 01:30Z
        (1, ["2026-10-26 01:30", "2026-10-27 01:30"]),
    ],
)
def test_after_given_as_local_time_in_the_repeated_hour(fold: int, expected: list[str]) -> None:
    after = datetime.datetime(2026, 10, 25, 2, 10, tzinfo=zoneinfo.ZoneInfo(AMS), fold=fold)
    fires = _fires(Cron("30 2 * * *", timezone=AMS), after, 2)
    assert [fire.astimezone(UTC) for fire in fires] == [_utc(item) for item in expected]


def test_cron_is_the_same_class_from_flowkit_and_its_module() -> None:
    assert Cron is CronFromModule


@pytest.mark.parametrize("catchup", ["none", "latest"])
@pytest.mark.parametrize("paused", [False, True])
def test_options_accepted(catchup: str, paused: bool) -> None:
    cron = Cron("0 0 3 * * ?", timezone=AMS, paused=paused, catchup=catchup)
    fires = _fires(cron, _utc("2026-01-01 00:00"), 1)
    assert fires[0].astimezone(UTC) == _utc("2026-01-01 02:00")


# -- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expression",
    [
        # wrong number of fields
        "* * * *",
        "0 0 0 * * ? 2026 1",
        "",
        "every day at noon",
        # Unix values out of range
        "60 * * * *",
        "0 24 * * *",
        "0 0 0 * *",
        "0 0 32 * *",
        "0 0 * 0 *",
        "0 0 * 13 *",
        "0 0 * * 8",
        # Quartz values out of range (dow is 1-7 in Quartz, so 0 is out too)
        "60 0 0 * * ?",
        "0 60 0 * * ?",
        "0 0 24 * * ?",
        "0 0 0 32 * ?",
        "0 0 0 ? 13 MON",
        "0 0 0 ? * 8",
        "0 0 0 ? * 0",
        "0 0 0 ? * 6#6",
        # garbage
        "a b c d e",
        "0 9 * * FUNDAY",
        "0 9 * * MON-",
        "*/0 * * * *",
        "0 9 * * * * * *",
    ],
)
def test_bad_expression(expression: str) -> None:
    with pytest.raises(DefinitionError) as info:
        Cron(expression)
    assert expression in str(info.value)


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "Europe/Amsterdm", "not a zone"])
def test_unknown_time_zone(zone: str) -> None:
    with pytest.raises(DefinitionError) as info:
        Cron("0 9 * * *", timezone=zone)
    assert zone in str(info.value)


@pytest.mark.parametrize("catchup", ["sometimes", "backfill"])
def test_bad_catchup(catchup: str) -> None:
    with pytest.raises(DefinitionError) as info:
        Cron("0 9 * * *", catchup=catchup)
    assert catchup in str(info.value)
