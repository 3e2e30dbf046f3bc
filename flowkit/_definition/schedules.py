"""When a flow runs by itself: ``Cron`` schedules, ``Periodic`` and ``FileArrival`` triggers.

These are definitions: frozen, validated when built, and pure (``Cron`` and
``Periodic`` compute fire times; nothing here watches a folder or a clock).
Serving them is ``_operations``' job.

``Cron`` reads Unix cron (five fields) and Quartz (six or seven fields, as
Databricks jobs write them) through croniter, the parser Airflow uses; Quartz
is translated to croniter's dialect first (its day-of-week 1-7 = SUN-SAT
becomes 0-6, ``6L`` becomes ``L5``, ``?`` becomes ``*``). croniter walks local
wall-clock time, which has no DST; flowkit maps each wall time onto the zone
itself (``_instant``), so the DST rules are flowkit's own:

- a wall time that does not exist that day (the spring-forward gap) fires at
  the first instant after the gap;
- a wall time that occurs twice (fall-back) fires once, at its first occurrence;

so a daily schedule fires exactly once every local day, also on the change days.
"""

from __future__ import annotations

import datetime
import math
import os
import re
import zoneinfo
from typing import Any

import attrs

from flowkit._errors import DefinitionError

UTC = datetime.timezone.utc
CATCHUP_VALUES = ("none", "latest")
_QUARTZ_DAYS = {"1": "0", "2": "1", "3": "2", "4": "3", "5": "4", "6": "5", "7": "6"}
#: How far before ``after`` the walk starts, so a fall-back hour's second pass is covered.
_LOOKBACK = datetime.timedelta(hours=3)


def _cron_error(expression: Any, reason: str) -> DefinitionError:
    msg = (
        f"Cron({expression!r}): {reason}. Allowed: five fields of Unix cron "
        "(minute hour day-of-month month day-of-week, e.g. '0 3 * * *') or six or seven "
        "of Quartz as Databricks writes them (second minute hour day-of-month month "
        "day-of-week [year], day-of-week 1-7 = SUN-SAT, e.g. '0 0 3 * * ?')"
    )
    return DefinitionError(msg)


def _quartz_day_of_week(field: str, expression: str) -> str:
    """A Quartz day-of-week field in croniter's numbering (0 = Sunday)."""
    if field in ("?", "*"):
        return "*"
    translated = []
    for part in field.split(","):
        upper = part.upper()
        if match := re.fullmatch(r"([1-7])L", upper):  # the last <day> of the month
            translated.append(f"L{_QUARTZ_DAYS[match.group(1)]}")
            continue
        if upper.endswith("L") or upper.startswith("L"):
            raise _cron_error(expression, f"day-of-week {part!r} is not Quartz syntax (use 6L)")
        # Numbers become croniter's; names (MON-FRI) and the # and / syntax pass through.
        translated.append(
            re.sub(r"(?<![#/\d])([1-7])(?!\d)", lambda m: _QUARTZ_DAYS[m.group(1)], upper)
        )
        if re.search(r"(?<![#/])\b(?:0|[89]|\d{2,})\b(?![#])", upper.split("/")[0]):
            raise _cron_error(expression, f"day-of-week {part!r} is out of Quartz's range 1-7")
    return ",".join(translated)


def _croniter_fields(expression: str) -> tuple[str, bool]:
    """``expression`` as croniter reads it, and whether it has a seconds field."""
    if not isinstance(expression, str):
        raise _cron_error(expression, "the expression must be a string")
    fields = expression.split()
    if len(fields) == 5:
        return " ".join(fields), False
    if len(fields) not in (6, 7):
        raise _cron_error(expression, f"it has {len(fields)} fields")
    second, minute, hour, day, month, weekday, *year = fields
    if day != "?" and weekday != "?" and "*" not in (day, weekday):
        raise _cron_error(
            expression, "Quartz needs '?' in day-of-month or day-of-week (it cannot use both)"
        )
    for form in ("LW", "L-"):
        if form in day.upper():
            raise _cron_error(expression, f"day-of-month {day!r} ({form}...) is not supported")
    day = "*" if day == "?" else day
    weekday = _quartz_day_of_week(weekday, expression)
    return " ".join([second, minute, hour, day, month, weekday, *year]), True


def _zone(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError) as error:
        msg = (
            f"Cron({instance.expression!r}): timezone={value!r} is not a known time zone; "
            "allowed: an IANA name such as 'UTC', 'Europe/Amsterdam' or 'America/New_York'"
        )
        raise DefinitionError(msg) from error


def _catchup(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value not in CATCHUP_VALUES:
        msg = (
            f"{type(instance).__name__}: catchup={value!r} is invalid; allowed: 'none' "
            "(skip fires missed while nothing served) or 'latest' (run the latest one, once)"
        )
        raise DefinitionError(msg)


def _boolean(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if not isinstance(value, bool):
        msg = f"{type(instance).__name__}: {attribute.name}={value!r} is invalid; allowed: a bool"
        raise DefinitionError(msg)


@attrs.frozen
class Cron:
    """A schedule: fire at the times a cron expression names, in a time zone.

    Args:
        expression: Unix cron (five fields) or Quartz (six or seven fields).
        timezone: an IANA zone name; the expression's times are its wall times.
        paused: declared paused; ``flowkit resume`` overrides it in the home.
        catchup: what serve does with fires missed while nothing served:
            ``"none"`` skips them (and says so), ``"latest"`` runs the latest once.
    """

    expression: str
    timezone: str = attrs.field(default="UTC", validator=_zone)
    paused: bool = attrs.field(default=False, validator=_boolean)
    catchup: str = attrs.field(default="none", validator=_catchup)
    _croniter: str = attrs.field(init=False, repr=False, eq=False)
    _with_seconds: bool = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        translated, with_seconds = _croniter_fields(self.expression)
        object.__setattr__(self, "_croniter", translated)
        object.__setattr__(self, "_with_seconds", with_seconds)
        try:
            self._walk(datetime.datetime(2026, 1, 1))
        except (ValueError, KeyError, TypeError) as error:  # croniter's errors are ValueErrors
            raise _cron_error(self.expression, str(error) or type(error).__name__) from error

    @property
    def trigger_type(self) -> str:
        return "cron"

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def _walk(self, start: datetime.datetime) -> Any:
        """croniter over wall times from ``start`` (naive), its iterator of naive datetimes."""
        from croniter import croniter  # ~30 ms to import: only when a schedule is built

        return croniter(
            self._croniter,
            start,
            ret_type=datetime.datetime,
            second_at_beginning=self._with_seconds,
        )

    def next_fire_times(self, after: datetime.datetime, count: int = 1) -> list[datetime.datetime]:
        """The next ``count`` fire times strictly after ``after`` (aware), in the zone."""
        if after.tzinfo is None:
            msg = f"Cron({self.expression!r}).next_fire_times: `after` must be timezone-aware"
            raise ValueError(msg)
        zone = self.zone
        after_utc = after.astimezone(UTC)
        walker = self._walk((after.astimezone(zone) - _LOOKBACK).replace(tzinfo=None))
        fires: list[datetime.datetime] = []
        last: datetime.datetime | None = None
        while len(fires) < count:
            try:
                wall = walker.get_next(datetime.datetime)
            except (StopIteration, ValueError):  # a year field that has run out
                break
            instant = _instant(wall, zone)
            if instant.astimezone(UTC) <= after_utc or instant == last:
                continue
            fires.append(instant)
            last = instant
        return fires

    def fire_times_between(
        self, start: datetime.datetime, end: datetime.datetime
    ) -> list[datetime.datetime]:
        """Every fire time in ``(start, end]``: what a backfill of that range runs."""
        fires: list[datetime.datetime] = []
        cursor = start
        while True:
            batch = self.next_fire_times(cursor, 256)
            fires.extend(fire for fire in batch if fire <= end)
            if not batch or batch[-1] >= end:
                return fires
            cursor = batch[-1]

    def describe(self) -> str:
        return f"cron {self.expression!r} ({self.timezone})"


def _instant(wall: datetime.datetime, zone: zoneinfo.ZoneInfo) -> datetime.datetime:
    """The instant a wall time fires at in ``zone``, by the DST rules of the module docstring."""
    first = wall.replace(tzinfo=zone, fold=0)
    back = first.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    if back == wall:
        return first.astimezone(zone)  # exists (fold=0: the first of two occurrences)
    # In a gap: the first instant whose wall time is past ``wall``. The gap lies between
    # the instants the two offsets give; search it to the second.
    low = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    high = first.astimezone(UTC)
    low, high = min(low, high), max(low, high)
    while (high - low) > datetime.timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).replace(tzinfo=None) >= wall:
            high = middle
        else:
            low = middle
    instant = high.replace(microsecond=0)
    while instant.astimezone(zone).replace(tzinfo=None) < wall:
        instant += datetime.timedelta(seconds=1)
    return instant.astimezone(zone)


def _positive_interval(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        msg = f"Periodic: {attribute.name}={value!r} is invalid; allowed: a number >= 0"
        raise DefinitionError(msg)
    if value < 0:
        msg = f"Periodic: {attribute.name}={value!r} is negative; allowed: a number >= 0"
        raise DefinitionError(msg)


@attrs.frozen
class Periodic:
    """A trigger every fixed interval: ``Periodic(hours=6)``.

    The first fire is one interval after the flow was first served; each next
    one is an interval after the previous fire (Databricks' periodic trigger).
    """

    seconds: float = attrs.field(default=0, validator=_positive_interval)
    minutes: float = attrs.field(default=0, validator=_positive_interval)
    hours: float = attrs.field(default=0, validator=_positive_interval)
    days: float = attrs.field(default=0, validator=_positive_interval)
    paused: bool = attrs.field(default=False, validator=_boolean)

    def __attrs_post_init__(self) -> None:
        if self.interval <= 0:
            msg = (
                f"{self!r}: the interval is zero; give seconds=, minutes=, hours= or days=, "
                "e.g. Periodic(hours=1)"
            )
            raise DefinitionError(msg)

    @property
    def trigger_type(self) -> str:
        return "periodic"

    @property
    def interval(self) -> float:
        """The interval in seconds."""
        return self.seconds + 60 * self.minutes + 3600 * self.hours + 86400 * self.days

    def next_fire_times(
        self, after: datetime.datetime, count: int = 1, *, anchor: datetime.datetime | None = None
    ) -> list[datetime.datetime]:
        """The next ``count`` fires strictly after ``after``: ``anchor + k * interval``."""
        anchor = anchor or after
        step = datetime.timedelta(seconds=self.interval)
        passed = max(0, math.floor((after - anchor) / step) + 1)
        return [anchor + step * (passed + index) for index in range(count)]

    def describe(self) -> str:
        return f"every {_duration_text(self.interval)}"


def _non_negative(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool) or not value >= 0:
        msg = (
            f"FileArrival({instance.folder!r}): {attribute.name}={value!r} is invalid; "
            "allowed: a number of seconds >= 0"
        )
        raise DefinitionError(msg)


def _folder(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        msg = f"FileArrival: folder={value!r} is invalid; allowed: a folder's path as a string"
        raise DefinitionError(msg)


def _path_text(value: Any) -> Any:
    return os.fspath(value) if isinstance(value, os.PathLike) else value


@attrs.frozen
class FileArrival:
    """A trigger that fires when files appear or change in a folder (Databricks' file arrival).

    It fires once no change was seen for ``wait_after_last_change`` seconds, at
    most once per ``min_time_between_triggers``; files present when the flow was
    first served do not fire, files that arrived while nothing served do.
    """

    folder: str = attrs.field(converter=_path_text, validator=_folder)
    min_time_between_triggers: float = attrs.field(default=60, validator=_non_negative)
    wait_after_last_change: float = attrs.field(default=60, validator=_non_negative)
    paused: bool = attrs.field(default=False, validator=_boolean)

    @property
    def trigger_type(self) -> str:
        return "file_arrival"

    def describe(self) -> str:
        return f"files arriving in {self.folder}"


def _duration_text(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
