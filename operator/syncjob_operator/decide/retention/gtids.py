"""MariaDB and MySQL GTIDs: whether the server still has what a binlog position needs.

Why this exists: a Debezium MySQL/MariaDB connector resumes by GTID where the
server has GTIDs, and its committed offset's binlog ``file`` may then name a
file already purged while nothing is missing.  So whether a paused job's
change log is still on the server is a question about GTIDs, which the two
servers answer differently:

- MariaDB: a position is one GTID per replication domain
  (``domain-server-seq``, e.g. ``0-1-10``: transactions up to 10 of domain 0
  are done).  The server's oldest binlog file starts with a Gtid_list event:
  the GTIDs written before that file.  A domain whose position is below that
  list's sequence number needs transactions only purged files held; a domain
  the position does not name at all is read from its start (MariaDB's own
  rule: it refuses such a replica with error 1236 once the domain's first
  files are purged).
- MySQL: a position is a GTID set (``uuid:1-100,uuid2:1-5``, 8.4 adds tags:
  ``uuid:tag:1-5``); ``@@gtid_purged`` is the set no longer in any binlog.
  Transactions purged but not in the position are gone.

Pure parsing and comparison: :mod:`.mysql` turns the answers into a bound.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


def mariadb_positions(gtids: str) -> dict[int, int]:
    """``domain -> seq`` of a MariaDB GTID list (``0-1-10,1-7-3``; ``[...]`` as Gtid_list shows it).

    Several GTIDs of one domain (one per server id, as a Gtid_list event lists
    them) read as the highest sequence number: in a domain sequence numbers
    only grow (strict mode enforces it).  Raises ValueError on anything else.
    """
    positions: dict[int, int] = {}
    text = gtids.strip().removeprefix("[").removesuffix("]")
    for raw in text.replace("\n", "").split(","):
        item = raw.strip()
        if not item:
            continue
        parts = item.split("-")
        if len(parts) != 3 or not all(p.isdigit() for p in parts):
            raise ValueError(f"not a MariaDB GTID: {item!r}")
        domain, seq = int(parts[0]), int(parts[2])
        positions[domain] = max(seq, positions.get(domain, 0))
    return positions


@dataclass(frozen=True)
class DomainGap:
    """Transactions of one MariaDB domain that a position needs and the server purged."""

    domain: int
    after: int  # the position's sequence number (0: the domain is not in the position)
    upto: int  # the last purged sequence number

    def describe(self) -> str:
        first, last = self.after + 1, self.upto
        seqs = f"{first}" if first == last else f"{first}-{last}"
        return f"domain {self.domain} transactions {seqs}"


def mariadb_gaps(position: Mapping[int, int], oldest_list: Mapping[int, int]) -> list[DomainGap]:
    """What ``position`` still needs that is older than the oldest binlog file (empty: none)."""
    return [
        DomainGap(domain, position.get(domain, 0), seq)
        for domain, seq in sorted(oldest_list.items())
        if position.get(domain, 0) < seq
    ]


Interval = tuple[int, int]  # inclusive
MysqlGtidSet = dict[tuple[str, str], list[Interval]]  # (source uuid, tag) -> merged intervals


def mysql_gtid_set(text: str) -> MysqlGtidSet:
    """A MySQL GTID set (``uuid:1-5:7,uuid2:tag:1-3``) as merged intervals per (uuid, tag).

    Whitespace and newlines (as ``@@gtid_purged`` prints long sets) are
    ignored; an empty text is the empty set.  Raises ValueError on anything
    that is not a GTID set.
    """
    spans: dict[tuple[str, str], list[Interval]] = {}
    for item in "".join(text.split()).split(","):
        if not item:
            continue
        uuid, *rest = item.split(":")
        if len(uuid.replace("-", "")) != 32 or not rest:
            raise ValueError(f"not a MySQL GTID set element: {item!r}")
        tag = ""
        for part in rest:
            first, _, last = part.partition("-")
            if first.isdigit() and (not last or last.isdigit()):
                spans.setdefault((uuid.lower(), tag), []).append((int(first), int(last or first)))
            elif part and part.replace("_", "").isalnum() and not part[0].isdigit():
                tag = part.lower()  # a tag applies to the intervals after it
            else:
                raise ValueError(f"not a MySQL GTID set element: {item!r}")
    return {key: _merged(intervals) for key, intervals in spans.items()}


def _merged(intervals: Iterable[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for first, last in sorted(intervals):
        if out and first <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], last))
        else:
            out.append((first, last))
    return out


def mysql_missing(purged: MysqlGtidSet, position: MysqlGtidSet) -> MysqlGtidSet:
    """The purged transactions not in ``position``: what a replica at ``position`` would lack."""
    missing: MysqlGtidSet = {}
    for key, intervals in purged.items():
        have = position.get(key, [])
        for first, last in intervals:
            start = first
            for h_first, h_last in have:
                if h_last < start or h_first > last:
                    continue
                if h_first > start:
                    missing.setdefault(key, []).append((start, h_first - 1))
                start = max(start, h_last + 1)
                if start > last:
                    break
            if start <= last:
                missing.setdefault(key, []).append((start, last))
    return missing


def mysql_format(gtid_set: MysqlGtidSet) -> str:
    """A GTID set as MySQL prints it (tags after the uuid, intervals after their tag)."""
    by_uuid: dict[str, list[str]] = {}
    for (uuid, tag), intervals in sorted(gtid_set.items()):
        spans = [f"{a}" if a == b else f"{a}-{b}" for a, b in intervals]
        by_uuid.setdefault(uuid, []).extend([tag, *spans] if tag else spans)
    return ",".join(":".join([uuid, *parts]) for uuid, parts in by_uuid.items())
