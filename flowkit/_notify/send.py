"""One try to deliver a payload to one destination; a failure is an exception with a reason.

- ``http://`` / ``https://``: a POST of the payload as JSON, 10 s timeout; an
  answer of 400 or more is a failure.
- any other URL: Apprise (``flowkit[notify]``), the payload's ``message`` as
  title and the payload as the body.
- a callable: called with a copy of the payload.

A URL's ``{{secrets/scope/key}}`` references are filled here, just before it
is used, and never kept.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from flowkit._definition.notify import HTTP_SCHEMES, NOTIFY_EXTRA, needs_apprise, shape_problem
from flowkit._definition.refs import fill_secrets

TIMEOUT = 10.0


class DeliveryFailed(Exception):
    """A try did not deliver; the message says why, in words."""


def send(destination: Any, payload: dict[str, Any], *, timeout: float = TIMEOUT) -> None:
    """Deliver ``payload`` to ``destination`` once.

    Raises:
        DeliveryFailed: it was not delivered.
    """
    if callable(destination):
        try:
            destination(dict(payload))
        except Exception as error:  # the user's callable: any error is a failed delivery
            msg = f"{type(error).__name__}: {error}"
            raise DeliveryFailed(msg) from None
        return
    problem = shape_problem(str(destination))
    if problem is not None:
        msg = f"the destination {problem}"
        raise DeliveryFailed(msg)
    url = fill_secrets(str(destination))
    if needs_apprise(url):
        _send_apprise(url, payload)
    else:
        _post(url, payload, timeout=timeout)


def _post(url: str, payload: dict[str, Any], *, timeout: float) -> None:
    body = json.dumps(payload).encode()
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "flowkit"},
    )
    assert url.split(":", 1)[0].lower() in HTTP_SCHEMES
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as error:
        msg = f"HTTP {error.code} {error.reason}"
        raise DeliveryFailed(msg) from None
    except urllib.error.URLError as error:
        msg = f"cannot connect: {error.reason}"
        raise DeliveryFailed(msg) from None
    except (TimeoutError, OSError) as error:
        msg = f"{type(error).__name__}: {error}"
        raise DeliveryFailed(msg) from None


def _send_apprise(url: str, payload: dict[str, Any]) -> None:
    try:
        import apprise
    except ImportError:
        msg = f"Apprise is not installed: {NOTIFY_EXTRA}"
        raise DeliveryFailed(msg) from None
    sender = apprise.Apprise()
    if not sender.add(url):
        msg = "Apprise does not know this URL"
        raise DeliveryFailed(msg)
    body = json.dumps(payload, indent=2)
    if not sender.notify(title=f"flowkit: {payload['message']}", body=body):
        msg = "Apprise could not deliver it (its log says why)"
        raise DeliveryFailed(msg)
