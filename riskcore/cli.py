"""``riskcore`` / ``python -m riskcore``: the risk system from a terminal.

Human-readable by default, ``--json`` for machines. Bad input is one line on stderr and exit
code 2, with nothing written.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from collections.abc import Iterator, Sequence
from typing import Any, NoReturn

from riskcore import settings
from riskcore.serving.decisions import Decision
from riskcore.serving.model import DEFAULT_VERSION, MODELS
from riskcore.validation import InvalidInput

log = logging.getLogger("riskcore")
VERSIONS = sorted({version for _, version in MODELS})


class _Parser(argparse.ArgumentParser):
    """Usage mistakes are one line and exit code 2, like every other bad input."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.prog}: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="riskcore", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    boot = sub.add_parser("bootstrap", help="build a clean demo world (data, apply, materialize)")
    boot.add_argument("--drivers", type=int, default=settings.DEFAULT_DRIVERS)
    boot.add_argument("--seed", type=int, default=settings.DEFAULT_SEED)
    sim = sub.add_parser("simulate-day", help="write a day of driver activity")
    sim.add_argument("--risky-driver", type=int, action="append", default=[],
                     help="give this driver the original demo's bad day (repeatable)")
    sim.add_argument("--seed", type=int, default=settings.DEFAULT_SEED)
    sub.add_parser("batch-job", help="compute yesterday's stats and flags for every driver")
    sub.add_parser("materialize", help="incremental materialization into the online store")
    score = sub.add_parser("score", help="batch-score every driver with the daily model")
    score.add_argument("--version", choices=VERSIONS, default=DEFAULT_VERSION)
    tick = sub.add_parser("tick", help="one cadence tick: simulate day, batch job, materialize, score")
    tick.add_argument("--seed", type=int, default=settings.DEFAULT_SEED)

    onboard = sub.add_parser("onboard", help="decide on a signup")
    onboard.add_argument("--dob", required=True, help="date of birth, YYYY-MM-DD")
    onboard.add_argument("--ssn", required=True, help="123-45-6789, or - to read it from stdin "
                         "(keeps it out of `ps` and shell history)")
    onboard.add_argument("--dl", required=True, help="driver's licence number, or - for the next stdin line")
    onboard.add_argument("--state", required=True, help="two-letter state code")
    onboard.add_argument("--date", default=None, help="application date (default: today)")
    onboard.add_argument("--version", choices=VERSIONS, default=DEFAULT_VERSION)
    daily = sub.add_parser("daily", help="the daily decision for a driver")
    daily.add_argument("--driver-id", required=True)
    daily.add_argument("--version", choices=VERSIONS, default=DEFAULT_VERSION)

    states = sub.add_parser("states", help="list, launch or retire states")
    states.add_argument("action", nargs="?", choices=["list", "launch", "retire"], default="list")
    states.add_argument("state", nargs="?")
    sub.add_parser("status", help="registry, materialization, online rows and freshness")
    decisions = sub.add_parser("decisions", help="the latest entries of the decision log")
    decisions.add_argument("--limit", type=int, default=10)
    sub.add_parser("jobs", help="job history")
    sub.add_parser("reset", help="delete all generated data")
    sub.add_parser("repair", help="fix what `status` reports (interrupted jobs, lost registry or online store)")
    api = sub.add_parser("api", help="serve the HTTP API (OpenAPI docs at /docs)")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8000)
    return parser


def _progress(done: int, total: int, message: str) -> None:
    print(f"[{done}/{total}] {message}", file=sys.stderr)


def _decision_text(d: Decision) -> str:
    lines = [
        f"{d.decision.upper()}  score={'n/a' if d.score is None else f'{d.score:.4f}'}"
        f"  model={d.model.name} {d.model.version}  threshold={d.model.threshold}",
        f"subject: {d.subject}" + (f"  driver_id: {d.driver_id}" if d.driver_id else ""),
        "vector:  " + ", ".join(f"{f}={v:g}" for f, v in zip(d.model.features, d.vector)),
    ]
    if d.review:
        lines.append("review:  " + "; ".join(d.review))
    if d.reasons:
        lines.append("reasons: " + "; ".join(f"{r.text} (+{r.contribution:.3f})" for r in d.reasons))
    t = d.timings
    lines.append(f"timings: retrieval {t.retrieval_ms:.3f} ms, featurization "
                 f"{t.featurization_ms:.3f} ms, inference {t.inference_ms:.3f} ms")
    return "\n".join(lines)


def _secret(value: str, field: str, lines: Iterator[str]) -> str:
    """``-`` means: the next line of standard input."""
    if value != "-":
        return value
    line = next(lines, None)
    if line is None:
        raise InvalidInput(field, "expected a line on standard input")
    return line.rstrip("\r\n")


def _run(args: argparse.Namespace) -> tuple[Any, str]:
    """Execute one command; returns (JSON payload, human text)."""
    from riskcore.data import jobs
    from riskcore.data.store import RiskStore
    from riskcore.serving.decisions import Decisions
    from riskcore.validation import OnboardingApplication

    store = RiskStore()
    command = args.command
    if command not in ("bootstrap", "reset", "status", "repair"):
        store.require_ready()

    if command == "bootstrap":
        results = jobs.bootstrap(store, drivers=args.drivers, seed=args.seed, progress=_progress)
        return [r.__dict__ for r in results], "\n".join(f"{r.job}: {r.rows} rows in {r.seconds:.2f}s {r.detail}" for r in results)
    if command == "simulate-day":
        roster = store.roster()["driver_id"].to_numpy()
        unknown = sorted(set(args.risky_driver) - set(roster.tolist()))
        if unknown:
            raise InvalidInput("risky-driver", f"no driver {unknown[0]}")
        import numpy as np

        r = jobs.simulate_day(store, jobs.utc_now(), roster, np.array(args.risky_driver, dtype=np.int64), args.seed)
        return r.__dict__, f"simulate_day: {r.rows} rows {r.detail}"
    if command in ("batch-job", "materialize", "score", "tick"):
        if command == "tick":
            results = jobs.cadence_tick(store, args.seed, progress=_progress)
        elif command == "batch-job":
            results = [jobs.batch_job(store)]
        elif command == "materialize":
            results = [jobs.materialize(store, progress=_progress)]
        else:
            results = [jobs.score_all(store, args.version)]
        return [r.__dict__ for r in results], "\n".join(f"{r.job}: {r.rows} rows in {r.seconds:.2f}s {r.detail}" for r in results)
    if command == "onboard":
        lines = iter(sys.stdin)
        app = OnboardingApplication.parse(date_of_birth=args.dob, ssn=_secret(args.ssn, "ssn", lines),
                                          licence=_secret(args.dl, "licence", lines),
                                          state=args.state, application_date=args.date)
        d = Decisions(store).onboard(app, version=args.version)
        log.info("onboard %s -> %s", d.subject, d.decision)
        return d.as_dict(), _decision_text(d)
    if command == "daily":
        d = Decisions(store).daily(args.driver_id, version=args.version)
        return d.as_dict(), _decision_text(d)
    if command == "states":
        if args.action != "list":
            if not args.state:
                raise InvalidInput("state", f"`states {args.action}` needs a state code")
            jobs.set_state(store, args.state, launched=args.action == "launch")
        launched = jobs.launched_states(store)
        return {"launched": launched}, "launched states: " + ", ".join(launched)
    if command == "status":
        status = store.status()
        return _status_payload(status), _status_text(status)
    if command == "decisions":
        from riskcore.data.ledger import Ledger

        frame = Ledger(store.paths.ledger_db).decisions(args.limit).drop(columns=["detail"])
        return frame.to_dict("records"), frame.to_string(index=False)
    if command == "jobs":
        from riskcore.data.ledger import Ledger

        frame = Ledger(store.paths.ledger_db).jobs()
        return frame.to_dict("records"), frame.to_string(index=False)
    if command == "repair":
        done = jobs.repair(store, progress=_progress)
        return {"repaired": done}, done
    if command == "reset":
        jobs.reset(store)
        return {"reset": str(store.paths.root)}, f"reset {store.paths.root}"
    raise AssertionError(command)


def _status_payload(status: Any) -> dict[str, Any]:
    return {
        "data_dir": str(status.data_dir),
        "ready": status.ready,
        "registry_applied": status.registry_applied,
        "problems": list(status.problems),
        "views": [
            {"name": v.name, "online_rows": v.online_rows,
             "newest_event": v.newest_event.isoformat() if v.newest_event else None,
             "last_materialized": v.last_materialized.isoformat() if v.last_materialized else None,
             "ttl_hours": v.ttl.total_seconds() / 3600 if v.ttl else None, "fresh": v.fresh}
            for v in status.views
        ],
    }


def _status_text(status: Any) -> str:
    lines = [f"data dir: {status.data_dir}", f"ready: {'yes' if status.ready else 'no'}"]
    lines += [f"problem: {p}" for p in status.problems]
    if status.views:
        lines.append(status.table().drop(columns=["newest event"]).to_string(index=False))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already printed
        return int(exc.code or 0)
    from riskcore.data.store import StoreNotReady
    from riskcore.serving.decisions import UnknownDriver

    if settings.paths().root.is_dir():
        # delay=True: the file is only created when something is logged.
        handler = logging.FileHandler(settings.paths().log_file, delay=True)
        logging.basicConfig(handlers=[handler], level=logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if args.command == "api":
        import uvicorn

        from riskcore.api import create_app

        uvicorn.run(create_app(), host=args.host, port=args.port, log_level="warning")
        return 0
    # Feast prints progress to stdout; keep stdout for our output only.
    try:
        with contextlib.redirect_stdout(sys.stderr):
            payload, text = _run(args)
    except (InvalidInput, UnknownDriver, StoreNotReady, ValueError) as exc:
        # Bad input writes nothing, not even a log line.
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - a sentence here, the traceback in the log
        log.exception("%s failed", args.command)
        print(f"error: {args.command} failed ({type(exc).__name__}: {exc}); details in "
              f"{settings.paths().log_file}; `riskcore status` says what to repair", file=sys.stderr)
        return 1
    print(json.dumps(payload, default=str, indent=2) if args.json else text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
