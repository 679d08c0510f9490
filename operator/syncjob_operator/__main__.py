"""``python -m syncjob_operator`` / ``syncjob-operator``: run the operator.

Settings come from the environment (``SYNCJOB_*``, see settings.py) and these
flags; the flags win.
"""

from __future__ import annotations

import argparse
import logging
import secrets
import sys
import threading
from types import TracebackType

import kopf
import prometheus_client
import pydantic

from syncjob_operator import handlers  # noqa: F401 - registers the Kopf handlers
from syncjob_operator.settings import Settings

logger = logging.getLogger("syncjob_operator")


def _log_uncaught(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> None:
    logger.critical("the operator stopped: %s", exc, exc_info=(exc_type, exc, tb))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    name = args.thread.name if args.thread is not None else "?"
    exc_info = (args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback)
    logger.error("thread %s failed: %s", name, args.exc_value, exc_info=exc_info)


def route_everything_through_logging() -> None:
    """Nothing may reach stderr past the log handler Kopf installed.

    With ``--log-format json`` a log shipper parses every line as JSON; Python's
    own reporting would still print plain text: the traceback of the error that
    stops the operator (Kopf re-raises it out of ``kopf.run``: a 403 on the
    watch, say), an exception in a thread (the metrics server), a warning.
    All three go through ``logging`` instead, in the format asked for.
    """
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="syncjob-operator", description=__doc__.splitlines()[0])
    parser.add_argument(
        "-n",
        "--namespace",
        action="append",
        default=None,
        help="watch this namespace (repeatable); default: all namespaces",
    )
    parser.add_argument("--peering", default=None, help="Kopf peering name for HA")
    parser.add_argument(
        "--priority",
        type=int,
        default=None,
        help="peering priority; default: random, so that replicas never tie",
    )
    parser.add_argument("--log-format", choices=["text", "json"], default=None)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    overrides: dict[str, object] = {}
    if args.namespace:
        overrides["namespaces"] = args.namespace
    if args.peering:
        overrides["peering"] = args.peering
    if args.log_format:
        overrides["log_format"] = args.log_format
    try:
        config = Settings(**overrides)  # type: ignore[arg-type]
    except pydantic.ValidationError as exc:
        # Before logging is set up: one clear line per bad setting, not a traceback.
        for error in exc.errors():
            field = ".".join(str(p) for p in error["loc"])
            parser.error(f"invalid setting SYNCJOB_{field.upper()}: {error['msg']}")
        raise

    kopf.configure(
        verbose=args.verbose,
        log_format=kopf.LogFormat.JSON if config.log_format == "json" else kopf.LogFormat.FULL,
    )
    route_everything_through_logging()
    logging.getLogger().setLevel(config.log_level)
    if not args.verbose:
        # Kopf logs every handler run ("Handler 'wake' succeeded") per object.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    if config.metrics_port:
        prometheus_client.start_http_server(config.metrics_port)
    memo = kopf.Memo(config=config)
    kopf.run(
        clusterwide=not config.namespaces,
        namespaces=config.namespaces,
        standalone=config.peering is None,
        peering_name=config.peering,
        # Kopf freezes every operator of equal priority in a peering: replicas
        # of one Deployment would all freeze.  A random priority breaks the tie;
        # the highest acts, the others stand by until it goes.
        priority=args.priority if args.priority is not None else secrets.randbelow(1_000_000),
        liveness_endpoint=(
            f"http://0.0.0.0:{config.health_port}/healthz" if config.health_port else None
        ),
        memo=memo,
    )


if __name__ == "__main__":
    main()
