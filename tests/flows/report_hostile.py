"""A flow whose tasks print, fail with and set markup and script, for the report's tests.

``ingest`` prints script, an image with ``onerror`` and a ``javascript:`` link;
``check`` is a condition (its false branch ``skipped`` is excluded); ``load``
fails its first attempt with markup in the message, then succeeds; ``fan`` is a
for-each (a child run); ``broken`` fails for good with markup in its error,
and ``after`` is then upstream_failed.
"""

from pathlib import Path

from flowkit import Flow, task_values

HOSTILE = (
    "<script>window.__pwned=1</script>"
    '<img src=x onerror="window.__pwned=2">'
    '<a href="javascript:window.__pwned=3">click</a>'
)

flow = Flow("report_hostile", params={"note": "<b>bold</b>", "marker": ""})


@flow.task
def ingest() -> int:
    print(HOSTILE)
    print("\x1b[31mred\x1b[0m and \x1b]0;owned\x07")
    task_values.set("html", HOSTILE)
    return 3


@flow.condition(depends_on=[ingest])
def check() -> bool:
    return True


@flow.task(depends_on=[check.if_true], retries=1, retry_delay=0.05)
def load(marker: str = "") -> None:
    if marker and not Path(marker).exists():
        Path(marker).write_text("failed once")
        raise ValueError('<img src=x onerror="window.__pwned=4">')
    print("loaded")


@flow.task(depends_on=[check.if_false])
def skipped() -> None:
    pass


@flow.for_each(over=[1, 2], depends_on=[ingest], executor="inline")
def fan(item: int) -> int:
    print(f"item {item}")
    return item


@flow.task(depends_on=[load, fan], run_if="all_done")
def broken() -> None:
    raise RuntimeError("<script>window.__pwned=5</script> broke")


@flow.task(depends_on=[broken])
def after() -> None:
    pass
