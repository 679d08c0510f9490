"""The PostgreSQL deadline comes before the loss: the bench's run in short, behaviour only.

tests/bench/test_deadline_accuracy.py measures how close the deadline comes;
this runs the same thing smaller (the session server's 32 MB keep size, one
point half-way) and asserts only what must hold whatever the machine's load:
a deadline is given before the slot is lost and errs early, RetentionAtRisk
turns True before RetentionExceeded, and only the server's own ``lost`` is a
loss.  The operator's RetentionProber is driven directly, a probe every 2 s
(the test operator's interval), with a CHECKPOINT every 2 s
(tests/helpers/deadline.py).
"""

from __future__ import annotations

from datetime import timedelta

from syncjob_operator.decide import conditions
from tests.env.postgres import PostgresServer
from tests.helpers.deadline import Phase, fill_until_lost

MiB = 1024 * 1024


async def test_the_deadline_comes_before_the_loss_and_the_risk_before_the_exceeded(
    pg_server: PostgresServer,
) -> None:
    run = await fill_until_lost(pg_server, [Phase(1.5 * MiB)], probe_interval=2.0, limit_s=120)
    assert run.lost_at is not None, "the server never lost the slot"
    last = run.probes[-1].bound
    assert last.lost and last.reason == "SlotLost", last

    half_way = run.at_fraction(0.5)
    assert half_way.deadline is not None, half_way.bound
    assert half_way.bound.reason == "SafeWalSize"
    assert half_way.deadline <= run.lost_at, "the deadline came after the loss"

    def risk(index: int) -> str:
        probe = run.probes[index]
        return conditions.retention_at_risk(
            in_pause=True,
            now=probe.at,
            warn_before=timedelta(hours=1),
            bound=probe.bound,
            deadline=probe.deadline,
            lost=probe.bound.lost_at(probe.at),
        ).status

    exceeded = [p.bound.lost_at(p.at) for p in run.probes]
    first_exceeded = exceeded.index(True)
    at_risk = [risk(i) == "True" for i in range(len(run.probes))]
    assert True in at_risk[:first_exceeded], "RetentionAtRisk never came before the loss"
    # Exceeded only once the server said lost, and from then on.
    assert all(exceeded[first_exceeded:])
    assert all(p.bound.lost for p in run.probes[first_exceeded:])
    assert not any(p.bound.lost for p in run.probes[:first_exceeded])
