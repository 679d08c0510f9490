"""``kubectl syncjob``: pause, resume and inspect SyncJobs from a terminal.

A kubectl plugin (kubectl runs ``kubectl-syncjob`` found on PATH for
``kubectl syncjob ...``).  It does not talk to the API server itself: it runs
``kubectl`` with ``--type merge`` patches and ``-o json`` reads, so the user's
kubeconfig, context, impersonation and auth plugins apply exactly as they do
for kubectl.  What it adds is what kubectl cannot do in one line: wait until
the operator has carried a pause out (``--wait``), and a status table with the
time left before a paused job's change log is purged.

The formatting and the "are we there yet" decision are pure functions of the
object (and the clock), in :mod:`syncjob_operator.cli.view`; here only
:class:`Kubectl` and the commands do I/O.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from syncjob_operator import units
from syncjob_operator.api import jobstatus, v1alpha1
from syncjob_operator.cli import view

RESOURCE = f"{v1alpha1.PLURAL}.{v1alpha1.GROUP}"
DEFAULT_TIMEOUT = "120s"
POLL_INTERVAL = 2.0

# --- durations on the command line ---------------------------------------------


def parse_duration(text: str) -> float:
    """Seconds in a Go duration ("120s", "2m", "1h30m", "500ms") or a bare number of seconds."""
    text = text.strip()
    if re.fullmatch(r"[0-9]+(\.[0-9]+)?", text):
        return float(text)
    return units.parse_duration(text).total_seconds()


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

    def get(self, *, name: str, namespace: str | None) -> view.Object:
        out = self.run("get", RESOURCE, name, *ns_flags(namespace), "-o", "json")
        return dict(json.loads(out))

    def list(self, *, namespace: str | None, all_namespaces: bool) -> list[view.Object]:
        flags = ["--all-namespaces"] if all_namespaces else ns_flags(namespace)
        out = self.run("get", RESOURCE, *flags, "-o", "json")
        return list(json.loads(out).get("items") or [])

    def set_paused(self, *, name: str, namespace: str | None, paused: bool) -> view.Object:
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
    caught_up: bool = False,
) -> view.Progress:
    """Poll until :func:`view.progress` says done or failed, or ``timeout`` seconds have passed."""
    deadline = clock() + timeout
    last = ""
    while True:
        now = view.progress(
            kubectl.get(name=name, namespace=namespace),
            target=target,
            generation=generation,
            caught_up=caught_up,
        )
        if now.state != "waiting":
            return now
        if now.message != last:
            report(now.message)
            last = now.message
        left = deadline - clock()
        if left <= 0:
            return view.Progress("failed", f"timed out after {timeout:g}s; last: {now.message}")
        sleep(min(POLL_INTERVAL, left))


def cmd_set_paused(kubectl: Kubectl, args: argparse.Namespace, *, paused: bool) -> int:
    target: jobstatus.Phase = "Paused" if paused else "Running"
    verb = "paused" if paused else "resumed"
    obj = kubectl.set_paused(name=args.name, namespace=args.namespace, paused=paused)
    generation = int(obj["metadata"]["generation"])
    ref = f"{RESOURCE}/{args.name}"
    caught_up = bool(getattr(args, "wait_caught_up", False))
    if not args.wait and not caught_up:
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
        caught_up=caught_up,
    )
    if outcome.state == "done":
        print(f"{ref} {verb}" + (f" ({outcome.message})" if caught_up else ""))
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
    sys.stdout.write(view.status_table(objs, now, with_namespace=args.all_namespaces))
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
        if command == "resume":
            sub.add_argument(
                "--wait-caught-up",
                action="store_true",
                help="wait until the job is Running and CaughtUp (its backlog read); implies "
                "--wait",
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
