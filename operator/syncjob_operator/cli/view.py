"""What ``kubectl syncjob`` shows and judges, from one read of a SyncJob (pure).

The status table (with the time left before a paused job's change log is
purged) and the "are we there yet" decision behind ``--wait`` are functions
of the object as ``kubectl get -o json`` returns it, and of the clock: tables
of cases test them, with no cluster.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from syncjob_operator import units
from syncjob_operator.api import jobstatus

HEADERS = ("NAME", "STAGE", "PHASE", "PAUSED", "DEADLINE", "TIME LEFT", "READY", "MESSAGE")
NONE = "-"

Object = dict[str, Any]


def parse_time(text: str | None) -> dt.datetime | None:
    """An RFC 3339 timestamp as the operator writes it; None when absent or unreadable."""
    try:
        return units.parse_time(text)
    except ValueError:
        return None


def format_time_left(deadline: dt.datetime | None, now: dt.datetime) -> str:
    """Time until the deadline, rounded down, in the two largest units: "2d3h", "41m", "passed".

    Rounded down so that it never promises more time than there is.
    """
    if deadline is None:
        return NONE
    seconds = math.floor((deadline - now).total_seconds())
    if seconds <= 0:
        return "passed"
    return units.format_duration(dt.timedelta(seconds=seconds))


def condition(obj: Object, type_: str) -> Object | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == type_:
            return cond
    return None


def one_line(text: str) -> str:
    return " ".join(text.split())


def headline(obj: Object) -> str:
    """The message that matters most: what is wrong first, then what is going on."""
    for type_ in ("Stalled", "RetentionExceeded", "RetentionAtRisk", "Reconciling"):
        cond = condition(obj, type_)
        if cond is not None and cond.get("status") == "True" and cond.get("message"):
            return one_line(str(cond["message"]))
    ready = condition(obj, "Ready")
    if ready is not None and ready.get("message"):
        return one_line(str(ready["message"]))
    return ""


def status_row(obj: Object, now: dt.datetime, *, with_namespace: bool = False) -> list[str]:
    """One line of ``kubectl syncjob status`` for one SyncJob."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    ready = condition(obj, "Ready")
    deadline = status.get("retentionDeadline")
    row = [
        str(meta.get("name", "")),
        str(status.get("stage") or NONE),
        str(status.get("phase") or NONE),
        "true" if spec.get("paused") else "false",
        str(deadline or NONE),
        format_time_left(parse_time(deadline), now),
        str(ready.get("status", "Unknown")) if ready else NONE,
        headline(obj),
    ]
    return [str(meta.get("namespace", "")), *row] if with_namespace else row


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell and three spaces apart, as kubectl prints them."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    lines = [
        "   ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in [headers, *rows]
    ]
    return "\n".join(lines) + "\n"


# Shown, before MESSAGE, when a job reports status.cdc (its backlog is probed).
CDC_HEADERS = ("LAG", "CATCH-UP")


def cdc_cells(obj: Object, now: dt.datetime) -> list[str]:
    """LAG (age of the last change committed, 0s once caught up) and the catch-up estimate."""
    cdc = (obj.get("status") or {}).get("cdc") or {}
    caught_up = condition(obj, "CaughtUp")
    last = parse_time(cdc.get("lastEventTime"))
    if caught_up is not None and caught_up.get("status") == "True":
        lag = "0s"
    elif last is not None:
        lag = units.format_duration(now - last) if now - last >= dt.timedelta(seconds=1) else "0s"
    else:
        lag = NONE
    estimate = cdc.get("estimatedCatchUpSeconds")
    if cdc.get("catchingUpSince") and isinstance(estimate, int):
        eta = "~" + units.format_duration(dt.timedelta(seconds=estimate))
    elif cdc.get("catchingUpSince"):
        eta = "catching up"
    elif caught_up is not None and caught_up.get("status") == "True":
        eta = "caught up"
    else:
        eta = NONE
    return [lag, eta]


def status_table(objs: Sequence[Object], now: dt.datetime, *, with_namespace: bool) -> str:
    headers: tuple[str, ...] = ("NAMESPACE", *HEADERS) if with_namespace else HEADERS
    rows = [status_row(o, now, with_namespace=with_namespace) for o in objs]
    if any((o.get("status") or {}).get("cdc") for o in objs):
        headers = (*headers[:-1], *CDC_HEADERS, headers[-1])
        rows = [[*row[:-1], *cdc_cells(o, now), row[-1]] for row, o in zip(rows, objs, strict=True)]
    return format_table(headers, rows)


@dataclass(frozen=True)
class Progress:
    """Where a pause or resume stands, judged from one read of the object."""

    state: Literal["done", "waiting", "failed"]
    message: str


def progress(
    obj: Object, *, target: jobstatus.Phase, generation: int, caught_up: bool = False
) -> Progress:
    """Has the operator carried out the spec of ``generation`` and reached ``target``?

    Done only when the status was written for that generation (or a later one)
    and says ``target``: a Paused from before the patch proves nothing.  With
    ``caught_up``, a Running job is done once CaughtUp is True too (or absent:
    the job's backlog is not probed, so there is nothing to wait for).
    """
    status = obj.get("status") or {}
    observed = status.get("observedGeneration")
    if not isinstance(observed, int) or observed < generation:
        return Progress("waiting", f"waiting for the operator to observe generation {generation}")
    phase = status.get("phase")
    for type_ in ("Stalled", "RetentionExceeded"):
        cond = condition(obj, type_)
        if cond is not None and cond.get("status") == "True":
            reason = cond.get("reason") or type_
            return Progress("failed", f"{reason}: {one_line(str(cond.get('message', '')))}")
    if phase == "Failed":
        return Progress("failed", f"phase Failed: {headline(obj)}")
    if phase == target and caught_up:
        cond = condition(obj, "CaughtUp")
        if cond is None:
            return Progress("done", f"{headline(obj)} (no backlog is measured for this job)")
        if cond.get("status") != "True":
            return Progress("waiting", f"not caught up: {one_line(str(cond.get('message', '')))}")
        return Progress("done", f"caught up: {one_line(str(cond.get('message', '')))}")
    if phase == target:
        return Progress("done", headline(obj))
    return Progress("waiting", f"phase {phase or NONE}: {headline(obj)}".rstrip(": "))
