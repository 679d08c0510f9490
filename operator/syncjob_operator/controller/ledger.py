"""Which of a decision's actions to send now: a request already made is not repeated at once.

The decision is stateless: while a pause is on its way it asks for the same
PUT (or scale) on every pass, and a transition polls every 10-50 ms.  Connect
answers a pause with 202 and acts later, so resending it each pass would only
load the workers.  The ledger remembers what was asked and when; an action is
sent again only after ``REISSUE_AFTER`` seconds, or when it asks for
something else.  Once a pass no longer asks for it, the next ask is a new
request.  An action that failed is forgotten, so that it is retried on the
next pass.  The clock is passed in (monotonic seconds).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from syncjob_operator.decide import plan

# A request (PUT pause, a scale) already made is not repeated for this long
# while its effect is on its way: Connect answers 202 and acts later.
REISSUE_AFTER = 5.0


def action_key(action: plan.Action) -> tuple[str, object]:
    """What an action is about (one request per key at a time), and what it asks of it."""
    if isinstance(action, plan.ConnectorAction):
        return f"connector/{action.name}", action.target
    if isinstance(action, plan.KafkaConnectorAction):
        return f"kafkaconnector/{action.name}", action.state
    if isinstance(action, plan.ScaleAction):
        return f"scale/{action.ref.kind}/{action.ref.name}", (action.replicas, action.save)
    if isinstance(action, plan.RestartAction):
        return f"restart/{action.name}", action.attempt
    return f"clear/{action.ref.kind}/{action.ref.name}", None


@dataclass
class Ledger:
    """The requests one job has made lately: key -> (what was asked, when)."""

    reissue_after: float = REISSUE_AFTER
    asked: dict[str, tuple[object, float]] = field(default_factory=dict)

    def due(self, actions: Iterable[plan.Action], *, now: float) -> list[plan.Action]:
        """The actions to send now, recorded as asked at ``now``."""
        actions = list(actions)
        wanted = {action_key(a)[0] for a in actions}
        for key in [k for k in self.asked if k not in wanted]:
            del self.asked[key]
        out = []
        for action in actions:
            key, value = action_key(action)
            last = self.asked.get(key)
            if last is not None and last[0] == value and now - last[1] < self.reissue_after:
                continue
            self.asked[key] = (value, now)
            out.append(action)
        return out

    def forget(self, action: plan.Action) -> None:
        """The request failed: the next pass that asks for it sends it."""
        self.asked.pop(action_key(action)[0], None)
