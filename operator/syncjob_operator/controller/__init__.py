"""The per-SyncJob controller: observe, decide, act, write status; free of Kopf.

What lives here is the I/O orchestration around the pure decision in
:mod:`syncjob_operator.decide`:

- :mod:`.loop`: the loop each SyncJob runs, and its onDelete: Resume pass;
- :mod:`.shared`: what all loops share (Kubernetes client, settings, Connect
  and Kafka admin clients, the Secret cache);
- :mod:`.clients`: the pool those clients are kept in (reuse, close on a
  rotated Secret or when idle), with the clock passed in and table tests;
- :mod:`.observe`: one pass's look at the backends;
- :mod:`.retention`: the paused job's retention prober;
- the loop's bookkeeping as small units with the clock passed in, each with
  its own table tests: :mod:`.pacing` (how long to sleep), :mod:`.ledger`
  (which requests to send again), :mod:`.status` (what was written).

It may import ``decide``, ``api``, ``backends``, ``probes``, ``settings`` and
``metrics``; never ``kopf`` nor ``handlers`` (import-linter contracts say so).
``handlers`` registers it with Kopf.
"""
