"""Whether Kafka Connect not answering is an error, or its workers are away by this job's doing.

The Connect workers may be the very workloads this job scales: while they are
at zero (paused) or coming back (resuming: a Pod Ready before its worker
serves, a Service's endpoints behind), nobody answers and nothing runs.  That
is not an error.  Saved counts on the job's own workloads mark that window;
the transition timeout bounds it.

The observer hands over Connect's errors apart (``Observed.connect_errors``);
:func:`settle` judges them: Connect is "skipped" and its errors are dropped
when every one of them is transient and every workload of the job that
carries a saved count above zero was found; otherwise they are reported like any other.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from syncjob_operator.decide.observed import BackendError, Observed, WorkloadState


def workers_away(workloads: Iterable[WorkloadState]) -> bool:
    """The job's own workloads with saved counts (scaled by this job): some, and all found.

    A count saved at 0 does not count: that workload had no Pods before the
    pause and gets none back, so it cannot be the workers Connect waits for.
    """
    ours = [w for w in workloads if w.saved_replicas]
    return bool(ours) and all(w.found for w in ours)


def connect_skipped(
    connect_errors: Sequence[BackendError], workloads: Iterable[WorkloadState]
) -> bool:
    """Connect did not answer only because this job took its workers away."""
    return (
        bool(connect_errors)
        and all(e.transient for e in connect_errors)
        and workers_away(workloads)
    )


def settle(observed: Observed) -> Observed:
    """The observation with Connect's errors judged: dropped as skipped, or reported."""
    if not observed.connect_errors:
        return observed
    if connect_skipped(observed.connect_errors, observed.workloads):
        return replace(observed, connect_errors=(), connect_skipped=True)
    return replace(observed, errors=(*observed.errors, *observed.connect_errors), connect_errors=())
