"""Whether to restart the job's FAILED connectors and tasks now (spec.autoRestart).

Why this exists: a Debezium task fails on a dropped replication connection
or a sink on a rejected write, and Kafka Connect leaves it FAILED until
someone restarts it.  With ``spec.autoRestart.enabled`` the operator does,
through Connect's REST API, with an exponential backoff and a maximum count;
past the maximum the job is Stalled with the last trace, for a person.  The
decision is a pure function of the observed states, the restart history in
status and the clock; the loop carries out the :class:`RestartAction`.

Strimzi KafkaConnectors are not restarted here: Strimzi's own
``spec.autoRestart`` does that, and two restarters would race.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from syncjob_operator import units
from syncjob_operator.api import jobspec, jobstatus
from syncjob_operator.decide import status as mirror
from syncjob_operator.decide.observed import Observed
from syncjob_operator.decide.plan import Event, RestartAction


@dataclass(frozen=True)
class Decision:
    """What to restart now, the restart history to write, and how the failure reads.

    ``active``: restarts are on and the failures are being restarted (or
    waiting for their backoff): retried, not yet for a person.  ``exhausted``:
    the maximum is reached and something is still FAILED.
    """

    actions: tuple[RestartAction, ...] = ()
    status: jobstatus.RestartStatus | None = None
    events: tuple[Event, ...] = ()
    active: bool = False
    exhausted: bool = False
    next_at: datetime | None = None


def delay(count: int, policy: jobspec.AutoRestartSpec) -> timedelta:
    """The wait after ``count`` restarts: none before the first, then backoff doubling to a cap."""
    if count <= 0:
        return timedelta(0)
    wait: timedelta = policy.backoff * (2 ** min(count - 1, 30))
    return min(wait, policy.max_backoff)


def decide(
    spec: jobspec.SyncJobSpec,
    observed: Observed,
    previous: jobstatus.RestartStatus | None,
    *,
    want_paused: bool,
    now: datetime,
) -> Decision:
    """The restarts due now.  Never while paused (or pausing): a pause is not a failure."""
    policy = spec.auto_restart
    if not policy.enabled or spec.connect is None:
        return Decision(status=previous)
    failed = [c for c in observed.connectors if c.failed]
    count = previous.count if previous is not None else 0
    last = units.parse_time(previous.last_restart_time) if previous is not None else None
    history = previous
    if (
        not failed
        and previous is not None
        and count
        and last is not None
        and now - last >= policy.reset_after
    ):
        # Healthy long after the last restart: the next failure is a new story.
        history = previous.model_copy(update={"count": 0})
    if want_paused or observed.connect_skipped or not failed:
        return Decision(status=history)
    if count >= policy.max_restarts:
        return Decision(status=history, exhausted=True)
    due = (last or now) + delay(count, policy) if count else now
    if now < due:
        return Decision(status=history, active=True, next_at=due)
    trace = next(
        (
            mirror.short_trace(t)
            for c in failed
            for t in (c.trace, *(task.trace for task in c.tasks))
            if t
        ),
        None,
    )
    attempt = count + 1
    names = ", ".join(c.name for c in failed)
    message = (
        f"Restarting the FAILED parts of connector {names} "
        f"(restart {attempt} of {policy.max_restarts}): "
        + "; ".join(c.failure() for c in failed)
        + (f": {trace}" if trace else "")
    )
    return Decision(
        actions=tuple(RestartAction(c.name, attempt) for c in failed),
        status=jobstatus.RestartStatus(
            count=attempt, last_restart_time=units.rfc3339(now), last_trace=trace
        ),
        events=(Event("Warning", "ConnectorRestarted", message),),
        active=True,
    )
