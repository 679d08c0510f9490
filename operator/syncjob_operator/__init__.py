"""syncjob-operator: a GitOps pause/resume lifecycle for relational-to-MongoDB sync jobs.

The packages, from the bottom up (import-linter holds them to it):
``units`` (durations, bytes, times); ``api`` (the SyncJob models and CRD);
``decide`` (pure decisions); ``backends`` and ``probes`` (the adapters that
do I/O); ``handlers`` (the Kopf wiring, the only place Kopf is imported, with
``__main__``).  ``cli`` is the kubectl plugin, which talks only to kubectl.
"""
