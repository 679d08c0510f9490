"""The adapters that read retention: PostgreSQL, MySQL/MariaDB, SQL Server, Kafka topics.

What lives here: one read-only, time-bounded probe per source, which turns
what the server says into the values ``decide.retention`` computes deadlines
from, and maps its driver's errors onto ``errors``.  ``connection`` (the
connection Secret) and ``errors`` are shared; the probes do not import each
other.  May import ``decide`` and ``api``, never ``handlers`` or ``backends``.
"""
