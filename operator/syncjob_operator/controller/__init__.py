"""The per-SyncJob controller: observe, decide, act, write status; free of Kopf.

What lives here is the I/O orchestration around the pure decision in
:mod:`syncjob_operator.decide`: the loop each SyncJob runs
(:mod:`.loop`), what all loops share (:mod:`.shared`) and the retention
prober (:mod:`.retention`).

It may import ``decide``, ``api``, ``backends``, ``probes``, ``settings`` and
``metrics``; never ``kopf`` nor ``handlers`` (an import-linter contract says
so).  ``handlers`` registers it with Kopf.
"""
