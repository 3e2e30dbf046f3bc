"""Served flows for the fake-clock tests: a daily and an hourly schedule in Amsterdam."""

from flowkit import Cron, Flow

daily = Flow("daily_0230", schedule=Cron("30 2 * * *", timezone="Europe/Amsterdam"))
hourly = Flow("hourly_ams", schedule=Cron("0 0 * * * ?", timezone="Europe/Amsterdam"))


@daily.task
def load():
    return 1


@hourly.task
def tick():
    return 1
