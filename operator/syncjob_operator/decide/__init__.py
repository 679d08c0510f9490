"""The decisions: from the spec and what was observed, what to do and what to report.

What lives here: pure functions and the immutable values they read and return
(``observed``, ``plan``), with no side effects, no I/O and no clock of their
own (``now`` is passed in), so every rule is a table test.  ``reconcile``
makes the per-pass decision from ``targets``, ``phase``, ``status``,
``conditions`` and ``events``; ``retention`` turns what the probes read into
deadlines; ``stage`` reads the job's stage from Debezium's offsets; ``patch``
computes status merge patches.  It may import ``api`` and ``units``; never
the adapters, the handlers or a driver.
"""
