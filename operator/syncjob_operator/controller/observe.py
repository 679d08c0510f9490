"""One pass's look at a job's backends: Kafka Connect, the workloads, Strimzi KafkaConnectors.

The reads run concurrently and every failure becomes a
:class:`~syncjob_operator.decide.observed.BackendError` in the observation,
never an exception.  What Kafka Connect answered is handed over as it is:
whether its errors count is the decision's business
(:mod:`syncjob_operator.decide.workers`).

What it costs grows with the work, not the jobs:

- A converged job's connectors come out of its cluster's listing, one
  request a resync interval shared by every job on the cluster
  (:mod:`.listing`).  A job with a transition in flight (Pausing, Resuming,
  or one that acted in its last pass) GETs its own connectors' status
  instead, since it polls every 10-50 ms and must see its own change at once;
  the listing it takes afterwards is one started after that.
- The offsets (one GET per source connector: the listing has none) are read
  only when something needs them (:func:`offsets_due`).

Kept between passes: each connector's type (so that it is not asked again),
and the source connectors' committed offsets as last read (for SQL Server's
commit LSN and MySQL's binlog time, in the retention probes).

Where Kafka Connect's REST API cannot serve the offsets
(:func:`syncjob_operator.decide.stage.way`), they are read from Connect's
offsets topic through the reader all jobs of that cluster share
(:mod:`.offsets`): at most every stage poll interval while this job waits
for CDC, every resync interval otherwise.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from syncjob_operator.api import jobspec, jobstatus
from syncjob_operator.backends import strimzi, workloads
from syncjob_operator.backends.connect import ConnectClient
from syncjob_operator.backends.watch import Followed
from syncjob_operator.controller import offsets
from syncjob_operator.controller.shared import Shared
from syncjob_operator.decide import stage
from syncjob_operator.decide.observed import BackendError, ConnectorState, Observed

if TYPE_CHECKING:
    from syncjob_operator.probes import offsets_topic

# The phases whose connectors are observed one by one (see the module's doc).
DIRECT_PHASES = ("Pausing", "Resuming")
# From this many jobs in transition on one Connect cluster at once, they poll
# its shared listing rather than each its own connectors (see listing.py).
CROWD_FOR_LISTING = 4
# How old a listing a crowd's poll may take, and how far apart a crowd's
# listings start.  Each listing costs the worker the status of every
# connector on it: polled at the single-job rate (10 ms) by a crowd, they
# ran back to back (94 listings of 200 connectors in one 7 s pause storm),
# CPU taken from the pauses themselves.  Measured with 200 connectors
# (scale bench): 100 ms apart, 60 listings in a 7.6 s pause storm and 37 in
# a 4.1 s resume storm; 200 ms apart, 26 and 16, the storms no slower.
CROWD_LISTING_AGE = 0.2


def in_a_crowd(jobs_in_transition: int) -> bool:
    """Whether a job's offsets reads and PUTs go with the crowd's, in rounds.

    Only in a crowd: a lone job's requests go at once, and so do the first
    passes of a start-up (five at a time, each waiting for a round would
    take the start-up of 200 connectors from 5 s to 9 s).
    """
    return jobs_in_transition >= CROWD_FOR_LISTING


def crowd_poll(delay: float, *, crowded: bool) -> float:
    """The wait before a transition's next look: no sooner than the next listing, in a crowd.

    A crowd's jobs read a listing up to CROWD_LISTING_AGE old; looking more
    often than that only decides again on the same listing (200 jobs at the
    single-job poll rate: thousands of passes a second for nothing).
    """
    return max(delay, CROWD_LISTING_AGE) if crowded else delay


def connect_view(
    *, transition: bool, acted_at: float | None, crowd: int
) -> Literal["own", "crowd", "listing"]:
    """How a pass sees its connectors.

    - ``own``: a job in a pause or resume reads its own connectors (the
      quickest answer for one job);
    - ``crowd``: so do ``CROWD_FOR_LISTING`` or more jobs on the cluster at
      once, so they share a listing started after their requests were
      answered (a process that has not acted itself, restarted in the
      middle of a transition, reads its own);
    - ``listing``: a converged job reads the cluster's listing of the resync.
    """
    if not transition:
        return "listing"
    if acted_at is not None and crowd >= CROWD_FOR_LISTING:
        return "crowd"
    return "own"


def takes_own_look(
    *,
    resuming: bool,
    own_at: float | None,
    listing_at: float | None,
    now: float,
    max_age: float,
) -> bool:
    """Whether a resume is decided on this job's own last look at its connectors.

    A paused job's resume needs no fresher look than the one it has: a PUT
    resume is harmless whatever the connector's state (a failed one stays
    failed, a gone one answers 404), and the polls after it read fresh
    states.  So a resume is decided on the job's own last look (its GETs, or
    a crowd's listing, at the end of its pause) when that is within the
    resync interval and newer than the cluster's kept listing; otherwise on
    the listing, fetched if need be.  A single job's resume thereby sends
    its PUTs at once instead of after a listing (~5-10 ms).  Only a resume:
    a converged job's resync still reads the listing, so that a change by
    hand is seen within one interval.
    """
    if not resuming or own_at is None or now - own_at > max_age:
        return False
    return listing_at is None or listing_at < own_at


def offsets_due(
    *,
    stage: str | None,
    phase: str | None,
    paused: bool,
    read_at: float | None,
    read_since_paused: bool,
    now: float,
    interval: float,
) -> bool:
    """Whether this pass reads the source connectors' committed offsets from Connect.

    - Before CDC, every pass: the stage is read from them, and a pause waits on it.
    - A pause about to be decided (asked for, the job still Running) is decided
      on fresh ones: it must not stop a snapshot.
    - Paused in CDC, once: nothing moves them any more, and the retention
      probes want the position the pause left (an offset read before the
      task's last flush only makes a deadline early).  Not when a resume is
      asked for: nothing then needs the paused position, and a resume's
      PUTs would wait for the reads (a resume storm of 200 connectors
      waited seconds for them).
    - Running in CDC, every ``interval`` (the offsets interval): the stage is
      known and nothing but SQL Server's commit LSN, read for a later pause,
      uses them; the catch-up after a resume reads its own.
    """
    if stage != "CDC":
        return True
    if paused and phase == "Running":
        return True
    if phase == "Paused":
        return paused and not read_since_paused
    return read_at is None or now - read_at >= interval


@dataclass
class Observer:
    """What one job's observations keep between passes."""

    # Monotonic seconds: when the offsets were last read.
    clock: Callable[[], float] = time.monotonic
    connector_types: dict[str, str] = field(default_factory=dict)
    offsets_read_at: float | None = None
    # Whether the offsets were read since the job was last seen Paused.
    offsets_read_since_paused: bool = False
    # Set by the loop when its pass acted: the next pass observes directly
    # (its connectors' own status, its workloads by GET).
    acted: bool = False
    # Monotonic seconds: when this job's last actions had all been answered.
    acted_at: float | None = None
    # Monotonic seconds: when this job last observed its connectors directly.
    direct_at: float | None = None
    # Whether the last pass read its connectors from a crowd's listing: its
    # next look waits for the next listing (see crowd_poll).
    crowded: bool = False
    # This job's connectors as it last looked at them itself (own GETs or a
    # crowd's listing, without error), offsets left out, and when that look
    # started (monotonic): what a resume is decided on (see takes_own_look).
    own_look: tuple[float, tuple[ConnectorState, ...]] | None = None
    # The resourceVersion of each object this job read by GET (see backends.watch).
    floors: dict[str, int] = field(default_factory=dict)
    # Whether the last pass read only objects a watch follows, all without
    # error, and no Kafka Connect: their changes wake the job, so a
    # transition need not poll fast (see pacing.Pacer.after).
    watched: bool = False
    # Each source connector's committed offsets as last read (for SQL Server's commit LSN).
    source_offsets: dict[str, tuple[Mapping[str, Any], ...]] = field(default_factory=dict)

    def offsets_of(self, names: Iterable[str]) -> list[Mapping[str, Any]]:
        """The last read offsets of these connectors, in order."""
        return [o for n in names for o in self.source_offsets.get(n, ())]

    async def observe(
        self,
        *,
        shared: Shared,
        namespace: str,
        spec: jobspec.SyncJobSpec,
        previous: jobstatus.SyncJobStatus,
        carried: Sequence[BackendError] = (),
        wake: Callable[[], None] = lambda: None,
    ) -> Observed:
        """What the backends say now; ``carried`` are errors of the last pass's actions.

        ``wake`` is called when a workload or KafkaConnector this job reads changes.
        """
        kube = shared.kube
        acted, self.acted = self.acted, False
        errors: list[BackendError] = list(carried)
        # Right after acting, its own GETs: it must see what it changed.
        followed = Followed()
        read = shared.watches.reader(
            who=id(self), wake=wake, fresh=acted, floors=self.floors, followed=followed
        )
        seen_workloads = await asyncio.gather(
            *(workloads.observe(kube, namespace, ref, read) for ref in spec.workloads)
        )
        seen_strimzi = await asyncio.gather(
            *(strimzi.observe(kube, namespace, ref.name, read) for ref in spec.kafka_connectors)
        )
        errors += [e for _, e in (*seen_workloads, *seen_strimzi) if e is not None]
        self.watched = (
            spec.connect is None
            and not errors
            and followed.unfollowed == 0
            and followed.reads == len(spec.workloads) + len(spec.kafka_connectors)
        )

        connectors: list[ConnectorState] = []
        connect_errors: list[BackendError] = []
        connect_serves_offsets = True
        if spec.connect is not None:
            client = await shared.connect_client(namespace, spec.connect)
            if isinstance(client, BackendError):
                # No client (its Secret): reported as it is, whatever the workers do.
                errors.append(client)
                connectors = [
                    ConnectorState(name=n, state="Unknown") for n in spec.connect.connectors
                ]
            else:
                connectors, connect_errors = await self._connect(
                    shared, client, spec.connect, spec.paused, previous, acted=acted
                )
                connect_serves_offsets = client.serves_offsets

        seen = (*connectors, *(c for c, _ in seen_strimzi))
        topic_offsets: offsets_topic.Offsets | None = None
        stage_errors: tuple[BackendError, ...] = ()
        known = dict(self.connector_types)
        how = stage.way(
            spec, seen, connect_serves_offsets=connect_serves_offsets, known_types=known
        )
        if spec.kafka is not None and how == "topic":
            topic_offsets, stage_errors = await self._read_topic(
                shared=shared, namespace=namespace, spec=spec, previous=previous
            )
            for name in stage.source_names(spec, seen, known):
                if topic_offsets is not None and name in topic_offsets:
                    self.source_offsets[name] = topic_offsets[name]
        return Observed(
            connectors=tuple(connectors),
            kafka_connectors=tuple(c for c, _ in seen_strimzi),
            workloads=tuple(w for w, _ in seen_workloads),
            errors=tuple(errors),
            connect_errors=tuple(connect_errors),
            topic_offsets=topic_offsets,
            connect_without_offsets=not connect_serves_offsets,
            connector_types=known,
            stage_errors=stage_errors,
        )

    async def _connect(
        self,
        shared: Shared,
        client: ConnectClient,
        connect: jobspec.ConnectSpec,
        paused: bool,
        previous: jobstatus.SyncJobStatus,
        *,
        acted: bool,
    ) -> tuple[list[ConnectorState], list[BackendError]]:
        """The job's connectors: its own GETs in a transition, else the cluster's listing."""
        names = list(connect.connectors)
        if previous.phase != "Paused":
            self.offsets_read_since_paused = False
        with_offsets = offsets_due(
            stage=previous.stage,
            phase=previous.phase,
            paused=paused,
            read_at=self.offsets_read_at,
            read_since_paused=self.offsets_read_since_paused,
            now=self.clock(),
            interval=shared.settings.offsets_interval,
        )
        transition = acted or previous.phase in DIRECT_PHASES
        crowd = shared.connect_crowds.count(client, id(self)) if transition else 0
        view = connect_view(transition=transition, acted_at=self.acted_at, crowd=crowd)
        # A crowd's offsets reads go together (see backends/rounds.py); a
        # job's first look at a pause is not in transition yet, but the
        # jobs before it may be.
        in_rounds = in_a_crowd(crowd if transition else shared.connect_crowds.size(client))
        self.crowded = view == "crowd"
        own_look = self.own_look
        if view == "own":
            self.direct_at = self.clock()
            connectors, errors = await client.observe(
                names, with_offsets=with_offsets, types=self.connector_types, in_rounds=in_rounds
            )
        elif (
            view == "listing"
            and own_look is not None
            and [c.name for c in own_look[1]] == names
            and takes_own_look(
                resuming=not paused and previous.phase == "Paused",
                own_at=own_look[0],
                listing_at=shared.connect_listings.kept_at(client),
                now=self.clock(),
                max_age=shared.settings.resync_interval,
            )
        ):
            connectors, errors = list(own_look[1]), []
            if with_offsets:
                connectors, errors = await client.add_offsets(connectors, in_rounds=in_rounds)
        else:
            if view == "crowd":
                # A listing started after this job's requests were answered,
                # and no older than one poll: what its own GETs would say.
                self.direct_at = self.clock()
                max_age = max(shared.settings.transition_poll_min, CROWD_LISTING_AGE)
                not_before = self.acted_at
                join_after = self.acted_at
                spacing = CROWD_LISTING_AGE
            else:
                max_age, not_before = shared.settings.resync_interval, self.direct_at
                join_after, spacing = None, 0.0
            listed = await shared.connect_listings.get(
                client,
                client.listing,
                max_age=max_age,
                not_before=not_before,
                join_after=join_after,
                spacing=spacing,
            )
            connectors, errors = client.from_listing(names, listed)
            connectors = [
                replace(c, type=self.connector_types.get(c.name) or c.type) for c in connectors
            ]
            if with_offsets and not errors:
                connectors, errors = await client.add_offsets(connectors, in_rounds=in_rounds)
        if view != "listing" and self.direct_at is not None:
            looked = tuple(replace(c, offsets=None) for c in connectors)
            self.own_look = (self.direct_at, looked) if not errors else None
        if with_offsets and not errors:
            self.offsets_read_at = self.clock()
            self.offsets_read_since_paused = previous.phase == "Paused"
        for c in connectors:
            if c.type:
                self.connector_types[c.name] = c.type
            if c.offsets is not None:  # read this pass; otherwise keep the last read
                self.source_offsets[c.name] = c.offsets
        return connectors, errors

    async def _read_topic(
        self,
        *,
        shared: Shared,
        namespace: str,
        spec: jobspec.SyncJobSpec,
        previous: jobstatus.SyncJobStatus,
    ) -> tuple[offsets_topic.Offsets | None, tuple[BackendError, ...]]:
        """The offsets topic's offsets by connector, from the reader of the job's cluster."""
        assert spec.kafka is not None
        config = await offsets.client_config(
            secret=shared.secret, namespace=namespace, kafka=spec.kafka
        )
        if isinstance(config, BackendError):
            return None, (config,)
        settings = shared.settings
        waits = (
            spec.paused and previous.stage != "CDC" and previous.phase not in ("Pausing", "Paused")
        )
        found, error = await shared.offsets_topics.read(
            config=config,
            topic=spec.kafka.offsets_topic,
            max_age=settings.stage_poll_interval if waits else settings.resync_interval,
        )
        return found, (error,) if error is not None else ()
