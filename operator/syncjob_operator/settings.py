"""Operator settings, from the environment (prefix ``SYNCJOB_``) and the command line.

One typed place, read once at start-up (never at import time), documented in
the README and the Helm chart's values.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SYNCJOB_", frozen=True)

    namespaces: list[str] = Field(
        default_factory=list, description="Namespaces to watch; empty means all namespaces."
    )
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    metrics_port: int = Field(default=8080, description="Prometheus metrics; 0 disables.")
    health_port: int = Field(default=8081, description="Liveness endpoint /healthz; 0 disables.")
    peering: str | None = Field(
        default=None, description="Kopf peering name for HA (only one replica acts); None: off."
    )
    # How soon to look again, per pace (seconds).  Why these numbers: a pause
    # should be reported within about a second of Connect reaching PAUSED, so a
    # transition polls from every 10 ms, each wait 15 % longer, for its first
    # second (a GET /status costs a few ms; Connect usually gets there in
    # 30-200 ms), then backs off by half each time up to 1 s (pacing.py);
    # converged jobs are resynced to
    # catch manual changes and to move the retention deadline, which needs
    # no more than one look every 30 s.
    transition_poll_min: float = 0.01
    transition_fast_window: float = 1.0
    transition_poll_max: float = 1.0
    # A transition still on its way after this long is one that cannot finish
    # soon (Pods that cannot be scheduled, a Connect worker gone): polling it
    # every second would cost ~1 pass a second per stuck job (82 % of a core
    # for 890 stuck jobs), so its wait keeps growing by half up to
    # transition_poll_slow_max. Nothing is lost by the slow polls: a watched
    # workload that changes wakes the job at once, and the timeout still
    # bounds the transition.
    transition_slow_after: float = Field(
        default=10.0,
        description="After this long, a pause or resume still on its way is polled slowly.",
    )
    transition_poll_slow_max: float = Field(
        default=10.0,
        description="The longest wait between two polls of a slow pause or resume.",
    )
    # Connect usually pauses or resumes within 50-200 ms: writing "Pausing"
    # then "Paused" (and an Event for each) doubled a storm's writes to the
    # API server, which on a small control plane is what a storm waits on.
    status_hold: float = Field(
        default=1.0,
        description="A pause or resume that lands within this many seconds is reported "
        "once, at its end (one status write and one Event); three times as long for a job "
        "among several in transition on one Connect cluster; 0 reports every step.",
    )
    transition_timeout: float = Field(
        default=300.0, description="Bound on a pause or resume before it is reported as Stalled."
    )
    stall_after: float = Field(
        default=300.0,
        description="How long a backend may keep failing (unreachable, 5xx, timeouts) "
        "before the job is reported Stalled rather than retrying.",
    )
    stage_poll_interval: float = Field(
        default=5.0, description="How often the offsets are read while a pause waits for CDC."
    )
    catching_up_interval: float = Field(
        default=5.0,
        description="How often a resumed job's backlog is probed until it has caught up.",
    )
    resync_interval: float = Field(
        default=30.0, description="How often a converged job is checked for drift."
    )
    # A converged job whose every object is followed by a watch (scaled
    # workloads, KafkaConnectors; no Connect REST API, no probes) is woken by
    # each change of them, so its resync is only a safety net: at 1,000 such
    # jobs a 30 s resync costs ~33 passes a second for nothing.
    watched_resync_interval: float = Field(
        default=300.0,
        description="How often a converged job that a watch wakes on every change "
        "(workloads and KafkaConnectors only, no Connect, no probes) is checked anyway.",
    )
    # The offsets (one GET per source connector; Connect's listing has none)
    # of a job running in CDC serve only a later pause (SQL Server's commit
    # LSN): the stage no longer moves, a pause reads fresh ones anyway, and
    # the catch-up after a resume reads its own.  Five resyncs keeps them
    # minutes fresh for a fifth of the requests.
    offsets_interval: float = Field(
        default=150.0,
        description="How often a job running in CDC reads its source connectors' offsets.",
    )
    retention_interval: float = Field(
        default=30.0, description="How often a paused job's retention is re-probed."
    )
    # Freed memory glibc keeps for reuse is handed back to the system (see
    # heap.py: a third of the RSS after a burst, measured).
    heap_trim_interval: float = Field(
        default=10.0,
        description="How often the memory the process freed is handed back to the "
        "system (glibc malloc_trim); 0 disables.",
    )
    # Measured at 1,000 jobs (tests/bench/test_startup_bench.py): RSS at the
    # end of start-up 289 MiB unbounded, 275 at 50, 236 at 10, 220-239 at 5
    # (six runs), 199-214 at 2 (two runs), 203 at 1.  Every job Running in
    # 10-11 s from 5 to 50 at once (the API server is the pace), 12 s at 2,
    # 14 s at 1.  On the code since (series built at the scrape, no second
    # pass at a start-up): 202-216 at 5, 193-205 at 2.  Two keep the peak
    # clear of the 250 MiB target for 1,000 jobs at a second or two of their
    # start-up.
    first_pass_concurrency: int = Field(
        default=2,
        ge=0,
        description="How many SyncJobs take their first pass at once after a start "
        "(bounds the start-up's memory peak); 0: no bound.",
    )
    retry_min: float = 1.0
    retry_max: float = 60.0
    delete_timeout: float = Field(
        default=120.0, description="Bound on the onDelete: Resume work before the finalizer goes."
    )
