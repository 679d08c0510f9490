"""``kubectl syncjob``: pause, resume and inspect SyncJobs from a terminal.

A kubectl plugin (kubectl runs ``kubectl-syncjob`` found on PATH for
``kubectl syncjob ...``).  It does not talk to the API server itself: it runs
``kubectl`` with ``--type merge`` patches and ``-o json`` reads, so the user's
kubeconfig, context, impersonation and auth plugins apply exactly as they do
for kubectl.  What it adds is what kubectl cannot do in one line: wait until
the operator has carried a pause out (``--wait``), and a status table with the
time left before a paused job's change log is purged.

The formatting and the "are we there yet" decision are pure functions of the
object (and the clock), tested as tables in ``tests/unit/test_kubectl_plugin.py``;
only :class:`Kubectl` and :func:`main` do I/O.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from syncjob_operator import units
from syncjob_operator.api import jobstatus, v1alpha1

RESOURCE = f"{v1alpha1.PLURAL}.{v1alpha1.GROUP}"
DEFAULT_TIMEOUT = "120s"
POLL_INTERVAL = 2.0
HEADERS = ("NAME", "STAGE", "PHASE", "PAUSED", "DEADLINE", "TIME LEFT", "READY", "MESSAGE")
NONE = "-"

Object = dict[str, Any]

# --- pure: durations and times ---------------------------------------------------


def parse_duration(text: str) -> float:
    """Seconds in a Go duration ("120s", "2m", "1h30m", "500ms") or a bare number of seconds."""
    text = text.strip()
    if re.fullmatch(r"[0-9]+(\.[0-9]+)?", text):
        return float(text)
    return units.parse_duration(text).total_seconds()


def parse_time(text: str | None) -> dt.datetime | None:
    """An RFC 3339 timestamp as the operator writes it; None when absent or unreadable."""
    try:
        return units.parse_time(text)
    except ValueError:
        return None


def format_time_left(deadline: dt.datetime | None, now: dt.datetime) -> str:
    """Time until the deadline, rounded down, in the two largest units: "2d3h", "41m", "passed".

    Rounded down so that it never promises more time than there is.
    """
    if deadline is None:
        return NONE
    seconds = math.floor((deadline - now).total_seconds())
    if seconds <= 0:
        return "passed"
    return units.format_duration(dt.timedelta(seconds=seconds))


# --- pure: reading a SyncJob ------------------------------------------------------


def condition(obj: Object, type_: str) -> Object | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == type_:
            return cond
    return None


def one_line(text: str) -> str:
    return " ".join(text.split())


def headline(obj: Object) -> str:
    """The message that matters most: what is wrong first, then what is going on."""
    for type_ in ("Stalled", "RetentionExceeded", "RetentionAtRisk", "Reconciling"):
        cond = condition(obj, type_)
        if cond is not None and cond.get("status") == "True" and cond.get("message"):
            return one_line(str(cond["message"]))
    ready = condition(obj, "Ready")
    if ready is not None and ready.get("message"):
        return one_line(str(ready["message"]))
    return ""


def status_row(obj: Object, now: dt.datetime, *, with_namespace: bool = False) -> list[str]:
    """One line of ``kubectl syncjob status`` for one SyncJob."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    ready = condition(obj, "Ready")
    deadline = status.get("retentionDeadline")
    row = [
        str(meta.get("name", "")),
        str(status.get("stage") or NONE),
        str(status.get("phase") or NONE),
        "true" if spec.get("paused") else "false",
        str(deadline or NONE),
        format_time_left(parse_time(deadline), now),
        str(ready.get("status", "Unknown")) if ready else NONE,
        headline(obj),
    ]
    return [str(meta.get("namespace", "")), *row] if with_namespace else row


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell and three spaces apart, as kubectl prints them."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    lines = [
        "   ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in [headers, *rows]
    ]
    return "\n".join(lines) + "\n"


def status_table(objs: Sequence[Object], now: dt.datetime, *, with_namespace: bool) -> str:
    headers = ("NAMESPACE", *HEADERS) if with_namespace else HEADERS
    rows = [status_row(o, now, with_namespace=with_namespace) for o in objs]
    return format_table(headers, rows)


@dataclass(frozen=True)
class Progress:
    """Where a pause or resume stands, judged from one read of the object."""

    state: Literal["done", "waiting", "failed"]
    message: str


def progress(obj: Object, *, target: jobstatus.Phase, generation: int) -> Progress:
    """Has the operator carried out the spec of ``generation`` and reached ``target``?

    Done only when the status was written for that generation (or a later one)
    and says ``target``: a Paused from before the patch proves nothing.
    """
    status = obj.get("status") or {}
    observed = status.get("observedGeneration")
    if not isinstance(observed, int) or observed < generation:
        return Progress("waiting", f"waiting for the operator to observe generation {generation}")
    phase = status.get("phase")
    for type_ in ("Stalled", "RetentionExceeded"):
        cond = condition(obj, type_)
        if cond is not None and cond.get("status") == "True":
            reason = cond.get("reason") or type_
            return Progress("failed", f"{reason}: {one_line(str(cond.get('message', '')))}")
    if phase == "Failed":
        return Progress("failed", f"phase Failed: {headline(obj)}")
    if phase == target:
        return Progress("done", headline(obj))
    return Progress("waiting", f"phase {phase or NONE}: {headline(obj)}".rstrip(": "))


# --- I/O: kubectl -----------------------------------------------------------------


class KubectlError(Exception):
    """kubectl failed; its stderr says why."""

    def __init__(self, message: str, returncode: int) -> None:
        super().__init__(message)
        self.returncode = returncode


@dataclass(frozen=True)
class Kubectl:
    """Runs kubectl with the user's global flags (kubeconfig, context, ...)."""

    binary: str
    global_flags: tuple[str, ...] = ()

    def run(self, *args: str, timeout: float = 60) -> str:
        try:
            done = subprocess.run(
                [self.binary, *self.global_flags, *args],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise KubectlError(f"kubectl did not answer within {timeout:g}s", 1) from exc
        if done.returncode != 0:
            raise KubectlError(done.stderr.strip() or done.stdout.strip(), done.returncode)
        return done.stdout

    def get(self, *, name: str, namespace: str | None) -> Object:
        out = self.run("get", RESOURCE, name, *ns_flags(namespace), "-o", "json")
        return dict(json.loads(out))

    def list(self, *, namespace: str | None, all_namespaces: bool) -> list[Object]:
        flags = ["--all-namespaces"] if all_namespaces else ns_flags(namespace)
        out = self.run("get", RESOURCE, *flags, "-o", "json")
        return list(json.loads(out).get("items") or [])

    def set_paused(self, *, name: str, namespace: str | None, paused: bool) -> Object:
        patch = json.dumps({"spec": {"paused": paused}})
        out = self.run(
            "patch",
            RESOURCE,
            name,
            *ns_flags(namespace),
            "--type",
            "merge",
            "-p",
            patch,
            "-o",
            "json",
        )
        return dict(json.loads(out))


def ns_flags(namespace: str | None) -> list[str]:
    return ["--namespace", namespace] if namespace else []


def find_kubectl() -> str:
    found = os.environ.get("KUBECTL") or shutil.which("kubectl")
    if not found:
        raise KubectlError("kubectl not found on PATH (or set KUBECTL)", 1)
    return found


# --- commands ---------------------------------------------------------------------


def wait_for(
    kubectl: Kubectl,
    *,
    name: str,
    namespace: str | None,
    target: jobstatus.Phase,
    generation: int,
    timeout: float,
    report: Callable[[str], None],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Progress:
    """Poll until ``progress`` is done or failed, or ``timeout`` seconds have passed."""
    deadline = clock() + timeout
    last = ""
    while True:
        now = progress(
            kubectl.get(name=name, namespace=namespace), target=target, generation=generation
        )
        if now.state != "waiting":
            return now
        if now.message != last:
            report(now.message)
            last = now.message
        left = deadline - clock()
        if left <= 0:
            return Progress("failed", f"timed out after {timeout:g}s; last: {now.message}")
        sleep(min(POLL_INTERVAL, left))


def cmd_set_paused(kubectl: Kubectl, args: argparse.Namespace, *, paused: bool) -> int:
    target: jobstatus.Phase = "Paused" if paused else "Running"
    verb = "paused" if paused else "resumed"
    obj = kubectl.set_paused(name=args.name, namespace=args.namespace, paused=paused)
    generation = int(obj["metadata"]["generation"])
    ref = f"{RESOURCE}/{args.name}"
    if not args.wait:
        print(f"{ref} {'pause' if paused else 'resume'} requested (generation {generation})")
        return 0
    outcome = wait_for(
        kubectl,
        name=args.name,
        namespace=args.namespace,
        target=target,
        generation=generation,
        timeout=args.timeout,
        report=lambda message: print(f"{ref}: {message}", file=sys.stderr),
    )
    if outcome.state == "done":
        print(f"{ref} {verb}")
        return 0
    print(f"error: {ref} not {verb}: {outcome.message}", file=sys.stderr)
    return 1


def cmd_status(kubectl: Kubectl, args: argparse.Namespace) -> int:
    if args.name:
        objs = [kubectl.get(name=args.name, namespace=args.namespace)]
    else:
        objs = kubectl.list(namespace=args.namespace, all_namespaces=args.all_namespaces)
    if not objs:
        where = "any namespace" if args.all_namespaces else "this namespace"
        print(f"No SyncJobs found in {where}.", file=sys.stderr)
        return 0
    now = dt.datetime.now(dt.UTC)
    sys.stdout.write(status_table(objs, now, with_namespace=args.all_namespaces))
    return 0


def duration_arg(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kubectl syncjob",
        description="Pause, resume and inspect SyncJobs (syncjob.dev) through kubectl.",
        epilog=(
            "Under Argo CD or Flux self-heal, a pause made here is reverted at the next sync "
            "unless spec.paused changes in Git."
        ),
    )
    globals_ = argparse.ArgumentParser(add_help=False)
    group = globals_.add_argument_group("kubectl flags (passed through)")
    for flag in ("--kubeconfig", "--context", "--cluster", "--user", "--as"):
        group.add_argument(flag, dest=f"kube_{flag.strip('-')}", metavar="VALUE")
    group.add_argument(
        "--as-group", dest="kube_as_group", action="append", default=[], metavar="GROUP"
    )
    group.add_argument("--request-timeout", dest="kube_request_timeout", metavar="DURATION")

    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command, help_ in (("pause", "pause a SyncJob"), ("resume", "resume a SyncJob")):
        sub = commands.add_parser(command, parents=[globals_], help=help_, description=help_)
        sub.add_argument("name", metavar="NAME")
        sub.add_argument("-n", "--namespace")
        sub.add_argument(
            "--wait",
            action="store_true",
            help="wait until the operator reports the job "
            + ("Paused" if command == "pause" else "Running"),
        )
        sub.add_argument(
            "--timeout",
            type=duration_arg,
            default=parse_duration(DEFAULT_TIMEOUT),
            help=f"how long --wait waits (default {DEFAULT_TIMEOUT})",
        )
    status = commands.add_parser("status", parents=[globals_], help="show SyncJobs as a table")
    status.add_argument("name", nargs="?", metavar="NAME")
    scope = status.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace")
    scope.add_argument("-A", "--all-namespaces", action="store_true")
    return parser


def global_flags(args: argparse.Namespace) -> tuple[str, ...]:
    flags: list[str] = []
    for name in ("kubeconfig", "context", "cluster", "user", "as", "request_timeout"):
        value = getattr(args, f"kube_{name}", None)
        if value:
            flags.append(f"--{name.replace('_', '-')}={value}")
    flags.extend(f"--as-group={g}" for g in getattr(args, "kube_as_group", []))
    return tuple(flags)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "status" and args.name and args.all_namespaces:
        print("error: a NAME cannot be combined with --all-namespaces", file=sys.stderr)
        return 2
    try:
        kubectl = Kubectl(binary=find_kubectl(), global_flags=global_flags(args))
        if args.command == "status":
            return cmd_status(kubectl, args)
        return cmd_set_paused(kubectl, args, paused=args.command == "pause")
    except KubectlError as exc:
        print(str(exc) if str(exc).startswith("error") else f"error: {exc}", file=sys.stderr)
        return exc.returncode or 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
