"""The suite's options and rules, and its fixtures registered once as plugins.

The fixtures live in tests/helpers/fixtures/ (a real control plane, the CRD,
the operator and a namespace per test; the source databases; the e2e
pipeline); builders and clients in tests/helpers/.  ``--kind`` runs the
cluster tests on a kind cluster through pytest-kind where Docker exists.

A skipped test proves nothing, so a run in which any test was skipped fails
(tests marked ``kind`` aside, which only run with ``--kind``).
"""

from __future__ import annotations

import sys

import pytest

pytest_plugins = [
    "tests.helpers.fixtures.cluster",
    "tests.helpers.fixtures.databases",
    "tests.helpers.fixtures.pipeline",
    "tests.helpers.fixtures.ports",
]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--kind", action="store_true", help="run the cluster tests on a kind cluster (pytest-kind)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--kind"):
        return
    skip = pytest.mark.skip(reason="kind-only: run with --kind where Docker exists")
    for item in items:
        if "kind" in item.keywords:
            item.add_marker(skip)


_SKIPPED: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and "kind" not in report.keywords:
        _SKIPPED.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _SKIPPED:
        print(
            f"\nFAILED: {len(_SKIPPED)} test(s) skipped; a skipped real-server test proves "
            "nothing:\n  " + "\n  ".join(_SKIPPED),
            file=sys.stderr,
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
