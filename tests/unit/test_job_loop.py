"""The loop's passes against a Kafka Connect stand-in that does what it is asked at once.

The loop's units (pacing, ledger, status book, the workers rule) have their
own tables; these check how one pass strings them together, and that
releasing (onDelete: Resume) is that same pass with nothing reported.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any, cast

import pytest

from syncjob_operator.api import jobspec, jobstatus, v1alpha1
from syncjob_operator.backends.kube import Kube, KubeError
from syncjob_operator.controller.loop import JobLoop
from syncjob_operator.controller.shared import Shared
from syncjob_operator.decide import plan
from syncjob_operator.decide.observed import ConnectorState, TaskState
from syncjob_operator.settings import Settings


class Connect:
    """Kafka Connect as the loop uses it; ``obeys`` False: requests are taken, nothing moves."""

    serves_offsets = True

    def __init__(self, state: str, *, obeys: bool = True) -> None:
        self.states = {"src": state, "sink": state}
        self.obeys = obeys
        self.requests: list[tuple[str, str]] = []
        # Whether each PUT, and each offsets read, was to go with a crowd's.
        self.in_rounds: list[bool] = []
        self.offsets_in_rounds: list[bool] = []
        # What the loop asked for, in order: "status" (its own), "listing", "offsets".
        self.asked: list[str] = []

    def _state(self, name: str, *, offsets: bool) -> ConnectorState:
        return ConnectorState(
            name=name,
            state=self.states[name],
            type="source" if name == "src" else "sink",
            tasks=(TaskState(id=0, state=self.states[name]),),
            offsets=({"lsn": 100, "txId": 7},) if name == "src" and offsets else None,
        )

    async def observe(
        self,
        names: list[str],
        *,
        with_offsets: bool,
        types: dict[str, str],
        in_rounds: bool = False,
    ) -> tuple[list[ConnectorState], list[Any]]:
        self.asked.append("status")
        return [self._state(n, offsets=with_offsets) for n in names], []

    async def listing(self) -> dict[str, ConnectorState]:
        self.asked.append("listing")
        return {n: self._state(n, offsets=False) for n in self.states}

    def from_listing(
        self, names: list[str], listed: dict[str, ConnectorState]
    ) -> tuple[list[ConnectorState], list[Any]]:
        return [listed[n] for n in names], []

    async def add_offsets(
        self, states: list[ConnectorState], *, in_rounds: bool = False
    ) -> tuple[list[ConnectorState], list[Any]]:
        self.asked.append("offsets")
        self.offsets_in_rounds.append(in_rounds)
        return [self._state(c.name, offsets=True) if c.name == "src" else c for c in states], []

    async def request_state(self, name: str, target: str, *, in_rounds: bool = False) -> None:
        self.requests.append((name, target))
        self.in_rounds.append(in_rounds)
        if self.obeys:
            self.states[name] = target


class StatusOnly:
    """The Kubernetes API as a Connect-only job's loop uses it: the status subresource."""

    def __init__(self) -> None:
        self.patches: list[dict[str, Any]] = []

    async def merge_patch(self, path: str, patch: dict[str, Any]) -> dict[str, Any]:
        assert path.endswith("/status")
        self.patches.append(patch["status"])
        return {}

    async def get(self, path: str) -> dict[str, Any] | None:
        return None


def job_loop(
    connect: Connect, kube: StatusOnly, **settings: Any
) -> tuple[JobLoop, list[plan.Event]]:
    async def connect_client(namespace: str, spec: jobspec.ConnectSpec) -> Connect:
        return connect

    shared = Shared(kube=cast(Kube, kube), settings=Settings(transition_poll_min=0.001, **settings))
    shared.connect_client = connect_client  # type: ignore[method-assign,assignment]
    events: list[plan.Event] = []
    return JobLoop(shared=shared, namespace="ns", name="job", emit=events.append), events


def counting(loop: JobLoop) -> list[float]:
    """The times of the loop's passes, from now on."""
    passes: list[float] = []
    original = loop.step

    async def step(body: Any) -> plan.Plan:
        passes.append(time.monotonic())
        return await original(body)

    loop.step = step  # type: ignore[method-assign]
    return passes


def body(paused: bool, status: jobstatus.SyncJobStatus | None = None, **spec: Any) -> Any:
    return {
        "metadata": {"generation": 3, "resourceVersion": "1"},
        "spec": {
            "paused": paused,
            "connect": {"url": "http://connect:8083", "connectors": ["src", "sink"]},
            **spec,
        },
        "status": v1alpha1.dump(status) if status is not None else {},
    }


PAUSED = jobstatus.SyncJobStatus(
    observed_generation=3, phase="Paused", stage="CDC", paused_at="2026-11-24T10:00:00Z"
)


def test_a_pause_that_lands_at_once_is_written_once_with_one_event() -> None:
    connect, kube = Connect("RUNNING"), StatusOnly()
    loop, events = job_loop(connect, kube)

    async def passes() -> list[plan.Plan]:
        return [await loop.step(body(paused=True, status=RUNNING_CDC)) for _ in range(3)]

    phases = [p.status.phase for p in asyncio.run(passes())]
    assert phases == ["Pausing", "Paused", "Paused"]
    # Pausing was held, not written: Paused is the first and only write.
    assert [p.get("phase") for p in kube.patches] == ["Paused"]
    changes = [e.message.split(".")[0] for e in events if e.phase_change is not None]
    assert changes == ["Phase Running -> Paused"]


def test_a_pause_that_takes_longer_than_the_hold_says_pausing_then_paused() -> None:
    connect, kube = Connect("RUNNING", obeys=False), StatusOnly()
    loop, events = job_loop(connect, kube, status_hold=0.05)

    async def passes() -> None:
        await loop.step(body(paused=True, status=RUNNING_CDC))
        assert kube.patches == []  # held
        await asyncio.sleep(0.06)
        await loop.step(body(paused=True, status=RUNNING_CDC))
        connect.states = {"src": "PAUSED", "sink": "PAUSED"}
        await loop.step(body(paused=True, status=RUNNING_CDC))

    asyncio.run(passes())
    assert [p.get("phase") for p in kube.patches] == ["Pausing", "Paused"]
    changes = [e.message.split(".")[0] for e in events if e.phase_change is not None]
    assert changes == ["Phase Running -> Pausing", "Phase Pausing -> Paused"]


def test_a_crowds_job_holds_its_pausing_longer() -> None:
    connect, kube = Connect("RUNNING", obeys=False), StatusOnly()
    loop, events = job_loop(connect, kube, status_hold=0.5)
    for other in range(3):  # three more jobs in transition on the same cluster
        loop.shared.connect_crowds.count(connect, other)

    async def passes() -> None:
        await loop.step(body(paused=True, status=RUNNING_CDC))
        await asyncio.sleep(0.55)  # past the hold of a job on its own
        await loop.step(body(paused=True, status=RUNNING_CDC))
        assert loop.observer.crowded
        assert kube.patches == []  # still held
        connect.states = {"src": "PAUSED", "sink": "PAUSED"}
        await asyncio.sleep(0.25)  # a crowd's poll reads the next listing
        await loop.step(body(paused=True, status=RUNNING_CDC))

    asyncio.run(passes())
    assert [p.get("phase") for p in kube.patches] == ["Paused"]
    changes = [e.message.split(".")[0] for e in events if e.phase_change is not None]
    assert changes == ["Phase Running -> Paused"]


@pytest.mark.parametrize(("others", "in_rounds"), [(0, False), (2, False), (4, True)])
def test_a_pause_goes_with_a_crowds_requests_only_in_a_crowd(others: int, in_rounds: bool) -> None:
    connect, kube = Connect("RUNNING"), StatusOnly()
    loop, _ = job_loop(connect, kube)
    for other in range(others):  # jobs in transition on the same cluster
        loop.shared.connect_crowds.count(connect, other)
    asyncio.run(loop.step(body(paused=True, status=RUNNING_CDC)))
    assert connect.offsets_in_rounds == [in_rounds]  # the fresh offsets a pause is decided on
    assert connect.in_rounds == [in_rounds, in_rounds]  # both PUTs


def test_a_pause_undone_before_it_was_reported_posts_no_phase_event() -> None:
    connect, kube = Connect("RUNNING", obeys=False), StatusOnly()
    loop, events = job_loop(connect, kube)

    async def passes() -> None:
        await loop.step(body(paused=True, status=RUNNING_CDC))
        await loop.step(body(paused=False, status=RUNNING_CDC))

    asyncio.run(passes())
    assert [p.get("phase") for p in kube.patches] in ([], [None])
    assert [e for e in events if e.phase_change is not None] == []


def test_a_pass_writes_only_what_changed() -> None:
    connect, kube = Connect("RUNNING"), StatusOnly()
    # No hold: every step of the transition is written.
    loop, events = job_loop(connect, kube, status_hold=0)

    async def passes() -> list[plan.Plan]:
        return [await loop.step(body(paused=True)) for _ in range(3)]

    first, second, third = asyncio.run(passes())
    assert connect.requests == [("src", "PAUSED"), ("sink", "PAUSED")]
    assert (first.status.phase, second.status.phase, third.status.phase) == (
        "Pausing",
        "Paused",
        "Paused",
    )
    # One write per change; the third pass saw nothing new and wrote nothing.
    assert [p.get("phase") for p in kube.patches] == ["Pausing", "Paused"]
    assert "Paused" in [e.reason for e in events]


def test_release_resumes_on_the_loops_pass_and_reports_nothing() -> None:
    connect, kube = Connect("PAUSED"), StatusOnly()
    loop, events = job_loop(connect, kube)
    done = asyncio.run(loop.release(body(paused=True, status=PAUSED), within=30.0))
    assert done
    assert sorted(connect.requests) == [("sink", "RUNNING"), ("src", "RUNNING")]
    # The object is going: no status write, no Event.
    assert (kube.patches, events) == ([], [])
    # What the passes concluded is where a later pass would start from.
    assert loop.book.previous(body(paused=True)).phase == "Running"


def test_release_of_a_running_job_asks_nothing() -> None:
    connect, kube = Connect("RUNNING"), StatusOnly()
    loop, events = job_loop(connect, kube)
    assert asyncio.run(loop.release(body(paused=False), within=30.0))
    assert (connect.requests, kube.patches, events) == ([], [], [])


def test_release_that_cannot_finish_says_so() -> None:
    connect, kube = Connect("PAUSED", obeys=False), StatusOnly()
    loop, events = job_loop(connect, kube)
    assert not asyncio.run(loop.release(body(paused=True, status=PAUSED), within=0.3))
    # Asked, once per key (the ledger), and nothing written on the way.
    assert sorted(connect.requests) == [("sink", "RUNNING"), ("src", "RUNNING")]
    assert (kube.patches, events) == ([], [])


@pytest.mark.parametrize("spec", [{"pauseMode": "Sleep"}, {"workloads": "not a list"}])
def test_release_of_an_invalid_spec_has_nothing_to_do(spec: dict[str, Any]) -> None:
    connect, kube = Connect("PAUSED"), StatusOnly()
    loop, events = job_loop(connect, kube)
    assert asyncio.run(loop.release(body(paused=True, status=PAUSED, **spec), within=30.0))
    assert (connect.requests, kube.patches, events) == ([], [], [])


RUNNING_CDC = jobstatus.SyncJobStatus(observed_generation=3, phase="Running", stage="CDC")


def test_converged_jobs_on_one_cluster_share_one_listing() -> None:
    connect, kube = Connect("RUNNING"), StatusOnly()
    first, _ = job_loop(connect, kube)
    loops = [first] + [
        JobLoop(shared=first.shared, namespace="ns", name=f"job-{i}", emit=lambda e: None)
        for i in range(49)
    ]

    async def passes() -> list[plan.Plan]:
        done: list[plan.Plan] = []
        for _ in range(3):  # three resyncs within the listing's max age
            done += await asyncio.gather(
                *(loop.step(body(paused=False, status=RUNNING_CDC)) for loop in loops)
            )
        return done

    plans = asyncio.run(passes())
    assert {p.status.phase for p in plans} == {"Running"}
    # 150 passes: one listing, no connector's own status; each job read its offsets once.
    assert connect.asked.count("listing") == 1
    assert connect.asked.count("status") == 0
    assert connect.asked.count("offsets") == 50
    assert connect.requests == []


def test_after_its_own_pause_a_job_takes_no_listing_from_before_it() -> None:
    connect, kube = Connect("RUNNING"), StatusOnly()
    loop, _ = job_loop(connect, kube)

    async def passes() -> list[plan.Plan]:
        return [await loop.step(body(paused=True, status=RUNNING_CDC)) for _ in range(4)]

    phases = [p.status.phase for p in asyncio.run(passes())]
    # A listing; the pause asked for, then watched through its own GETs; once
    # Paused, a listing again, but a new one: the first still says RUNNING.
    assert phases == ["Pausing", "Paused", "Paused", "Paused"]
    assert [a for a in connect.asked if a != "offsets"] == ["listing", "status", "listing"]
    assert connect.requests == [("src", "PAUSED"), ("sink", "PAUSED")]
    # Paused in CDC, the offsets are read once (the pause is decided on fresh ones).
    assert connect.asked.count("offsets") == 2


def test_a_converged_loop_sleeps_without_waking_and_ends_when_stopped() -> None:
    """An idle job's sleep costs no wake-ups: it ends on a wake or a stop, not by polling."""
    connect, kube = Connect("RUNNING"), StatusOnly()
    loop, _ = job_loop(connect, kube)
    stop = asyncio.Event()
    polls: list[bool] = []

    def stopped() -> bool:
        polls.append(stop.is_set())
        return stop.is_set()

    async def scenario() -> int:
        task = asyncio.create_task(loop.run(body(paused=False), stopped, stop.wait))
        await asyncio.sleep(2.5)  # one pass, then a resync sleep of 30 s
        asked = len(polls)
        stop.set()
        # Well inside the 30 s sleep: only the stop can end it.
        await asyncio.wait_for(task, timeout=5)
        return asked

    # The loop asked `stopped` once before its pass, not once a second since.
    assert asyncio.run(scenario()) == 1


def test_a_wake_ends_the_sleep_at_once() -> None:
    connect, kube = Connect("RUNNING"), StatusOnly()
    loop, _ = job_loop(connect, kube)
    stop = asyncio.Event()

    passes = counting(loop)

    async def scenario() -> int:
        task = asyncio.create_task(loop.run(body(paused=False), stop.is_set, stop.wait))
        await asyncio.sleep(0.3)
        before = len(passes)
        loop.wake.set()
        await asyncio.sleep(0.3)
        stop.set()
        await asyncio.wait_for(task, timeout=5)
        return len(passes) - before

    # The wake made a pass inside the 30 s resync sleep.
    assert asyncio.run(scenario()) == 1


class Unreachable(StatusOnly):
    """The status subresource behind an API server that is down for the first ``down`` writes."""

    def __init__(self, down: int) -> None:
        super().__init__()
        self.down = down

    async def merge_patch(self, path: str, patch: dict[str, Any]) -> dict[str, Any]:
        if self.down:
            self.down -= 1
            raise KubeError(0, "the Kubernetes API server could not be reached (refused)")
        return await super().merge_patch(path, patch)


def test_an_unreachable_api_server_is_retried_with_a_warning_not_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    connect, kube = Connect("RUNNING"), Unreachable(down=1)
    loop, _ = job_loop(connect, kube)
    loop.shared = Shared(
        kube=cast(Kube, kube), settings=Settings(retry_min=0.001, transition_poll_min=0.001)
    )
    loop.shared.connect_client = loop_client(connect)  # type: ignore[method-assign,assignment]
    loop.pacer.settings = loop.shared.settings
    checks = itertools.count()

    async def run() -> None:
        # Until the status is written, within a bound of checks.
        await loop.run(body(paused=False), lambda: bool(kube.patches) or next(checks) > 200)

    with caplog.at_level("WARNING", logger="syncjob_operator.controller.loop"):
        asyncio.run(run())
    failed = [r for r in caplog.records if "Kubernetes API" in r.getMessage()]
    assert len(failed) == 1 and failed[0].exc_info is None, caplog.records
    assert "could not be reached" in failed[0].getMessage()
    # The next pass wrote the status the failed one could not.
    assert [p.get("phase") for p in kube.patches] == ["Running"]


def loop_client(connect: Connect) -> Any:
    async def connect_client(namespace: str, spec: jobspec.ConnectSpec) -> Connect:
        return connect

    return connect_client


def test_first_passes_are_taken_a_bounded_number_at_a_time() -> None:
    async def start_up(concurrency: int) -> int:
        loops = [
            job_loop(Connect("RUNNING"), StatusOnly(), first_pass_concurrency=concurrency)[0]
            for _ in range(6)
        ]
        for loop in loops[1:]:  # one operator: one Shared
            loop.shared = loops[0].shared
        in_flight = {"now": 0, "most": 0}

        async def one(loop: JobLoop) -> None:
            original = loop.step

            async def step(body: Any) -> plan.Plan:
                in_flight["now"] += 1
                in_flight["most"] = max(in_flight["most"], in_flight["now"])
                try:
                    await asyncio.sleep(0.01)
                    return await original(body)
                finally:
                    in_flight["now"] -= 1

            loop.step = step  # type: ignore[method-assign]
            job = body(paused=False, status=RUNNING_CDC)
            await loop.run(job, lambda: loop.looked_at is not None)

        await asyncio.gather(*(one(loop) for loop in loops))
        assert all(loop.looked_at is not None for loop in loops)
        return in_flight["most"]

    assert asyncio.run(start_up(2)) == 2
    assert asyncio.run(start_up(0)) == 6


def test_a_job_whose_spec_changes_while_it_waits_its_first_turn_goes_at_once() -> None:
    async def scenario() -> None:
        loop, _ = job_loop(Connect("RUNNING"), StatusOnly(), first_pass_concurrency=1)
        turns = loop.shared.first_passes
        assert turns is not None
        await turns.acquire()  # the one turn is another job's, for as long as this lasts
        passes, stop = counting(loop), asyncio.Event()
        job = body(paused=False, status=RUNNING_CDC)
        running = asyncio.create_task(loop.run(job, stop.is_set, stop.wait))
        await asyncio.sleep(0.1)
        assert passes == []  # waiting its turn
        loop.notice(job)  # the generation it started on: no change
        await asyncio.sleep(0.1)
        assert passes == []
        changed = {**job, "metadata": {**job["metadata"], "generation": 4}}
        loop.notice(changed)  # a pause or resume patched meanwhile
        await asyncio.sleep(0.1)
        assert len(passes) == 1  # went at once, the turn still taken
        turns.release()
        stop.set()
        await asyncio.wait_for(running, 5)
        # The cancelled wait for a turn gave back nothing it did not take.
        assert not turns.locked()
        await asyncio.wait_for(turns.acquire(), 1)

    asyncio.run(scenario())


def test_the_first_event_of_a_job_does_not_cost_it_a_second_pass() -> None:
    async def scenario() -> list[float]:
        loop, _ = job_loop(Connect("RUNNING"), StatusOnly())
        passes, stop = counting(loop), asyncio.Event()
        job = body(paused=False, status=RUNNING_CDC)
        running = asyncio.create_task(loop.run(job, stop.is_set, stop.wait))
        await asyncio.sleep(0.05)
        # Kopf's next event for the object once the daemon runs (its
        # finalizer added, the first status written): the same generation.
        loop.notice({**job, "status": loop.book.written})
        await asyncio.sleep(0.3)
        loop.notice({**job, "metadata": {**job["metadata"], "generation": 4}})
        await asyncio.sleep(0.3)
        stop.set()
        await asyncio.wait_for(running, 5)
        return passes

    passes = asyncio.run(scenario())
    # One pass at the start, one for the new generation; none in between.
    assert len(passes) == 2, passes
    assert passes[1] - passes[0] >= 0.25
