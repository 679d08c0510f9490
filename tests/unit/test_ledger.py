"""The request ledger: an action already asked is not re-sent while the decision keeps asking."""

from __future__ import annotations

import pytest

from syncjob_operator.api import jobspec
from syncjob_operator.controller import ledger
from syncjob_operator.decide import plan

DBZ = jobspec.WorkloadRef(api_version="apps/v1", kind="Deployment", name="debezium")
PAUSE_SRC = plan.ConnectorAction("src", "PAUSED")
STOP_SRC = plan.ConnectorAction("src", "STOPPED")
PAUSE_SINK = plan.ConnectorAction("sink", "PAUSED")
STRIMZI_PAUSE = plan.KafkaConnectorAction("src", "paused")
TO_ZERO = plan.ScaleAction(DBZ, replicas=0, save=2)
TO_TWO = plan.ScaleAction(DBZ, replicas=2)
CLEAR = plan.ClearSavedReplicasAction(DBZ)

Pass = tuple[float, list[plan.Action]]


# Each row: the passes as (now, what the decision asks) and, per pass, what is sent.
@pytest.mark.parametrize(
    ("passes", "sent"),
    [
        # Asked again within REISSUE_AFTER: not sent again.
        (
            [(0.0, [PAUSE_SRC]), (0.025, [PAUSE_SRC]), (4.9, [PAUSE_SRC])],
            [[PAUSE_SRC], [], []],
        ),
        # Still asked after REISSUE_AFTER: sent again, and the wait starts over.
        (
            [(0.0, [PAUSE_SRC]), (5.0, [PAUSE_SRC]), (9.0, [PAUSE_SRC]), (10.0, [PAUSE_SRC])],
            [[PAUSE_SRC], [PAUSE_SRC], [], [PAUSE_SRC]],
        ),
        # A pass that no longer asks ends the request: the next ask is a new one.
        (
            [(0.0, [PAUSE_SRC]), (0.1, []), (0.2, [PAUSE_SRC])],
            [[PAUSE_SRC], [], [PAUSE_SRC]],
        ),
        # Asking something else of the same connector is a new request.
        ([(0.0, [PAUSE_SRC]), (0.1, [STOP_SRC])], [[PAUSE_SRC], [STOP_SRC]]),
        # A scale to another count, or with another saved count, too.
        (
            [(0.0, [TO_ZERO]), (0.1, [TO_ZERO]), (0.2, [TO_TWO])],
            [[TO_ZERO], [], [TO_TWO]],
        ),
        # Each key on its own: one that is due does not make the others due.
        (
            [(0.0, [PAUSE_SRC]), (1.0, [PAUSE_SRC, PAUSE_SINK]), (5.5, [PAUSE_SRC, PAUSE_SINK])],
            [[PAUSE_SRC], [PAUSE_SINK], [PAUSE_SRC]],
        ),
        # A REST connector and a Strimzi KafkaConnector of the same name are two things.
        (
            [(0.0, [PAUSE_SRC, STRIMZI_PAUSE]), (0.1, [PAUSE_SRC, STRIMZI_PAUSE])],
            [[PAUSE_SRC, STRIMZI_PAUSE], []],
        ),
        # Clearing the saved count is remembered like the others.
        ([(0.0, [CLEAR]), (0.1, [CLEAR]), (6.0, [CLEAR])], [[CLEAR], [], [CLEAR]]),
    ],
)
def test_due(passes: list[Pass], sent: list[list[plan.Action]]) -> None:
    book = ledger.Ledger()
    assert [book.due(actions, now=now) for now, actions in passes] == sent


def test_a_failed_request_is_sent_again_on_the_next_pass() -> None:
    book = ledger.Ledger()
    assert book.due([PAUSE_SRC, PAUSE_SINK], now=0.0) == [PAUSE_SRC, PAUSE_SINK]
    book.forget(PAUSE_SRC)
    assert book.due([PAUSE_SRC, PAUSE_SINK], now=0.1) == [PAUSE_SRC]
    book.forget(CLEAR)  # never asked: nothing to forget
    assert book.due([PAUSE_SRC, PAUSE_SINK], now=0.2) == []


def test_reissue_after_is_the_default_wait() -> None:
    book = ledger.Ledger()
    book.due([PAUSE_SRC], now=0.0)
    assert book.due([PAUSE_SRC], now=ledger.REISSUE_AFTER - 0.001) == []
    assert book.due([PAUSE_SRC], now=ledger.REISSUE_AFTER) == [PAUSE_SRC]
