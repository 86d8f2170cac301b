"""``riskcore`` / ``python -m riskcore``: the risk system from a terminal.

Human-readable by default, ``--json`` (before or after the command) for machines. Bad input is
one line on stderr and exit code 2, with nothing written; a disk that will not take writes is
one line and exit code 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any, NoReturn

from riskcore import settings
from riskcore.serving.decisions import Decision
from riskcore.serving.model import DEFAULT_VERSION, MODELS
from riskcore.validation import InvalidInput

log = logging.getLogger("riskcore")
VERSIONS = sorted({version for _, version in MODELS})
SKEW_DRIVERS = 20
MAX_SKEW_DRIVERS = 1000
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class _QuietFileHandler(logging.FileHandler):
    """The CLI's log file, which must never turn a full or read-only disk into a traceback:
    ``FileHandler`` opens its file outside the error handling ``raiseExceptions`` governs."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            super().emit(record)
        except OSError:
            self.handleError(record)


class _Parser(argparse.ArgumentParser):
    """Usage mistakes are one line and exit code 2, like every other bad input."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.prog}: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="riskcore", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    # --json after the command too; SUPPRESS keeps a subcommand from resetting the global flag.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    def command(name: str, text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=text, description=text, parents=[common])

    boot = command("bootstrap", "build a clean demo world (data, apply, materialize)")
    boot.add_argument("--drivers", type=int, default=settings.DEFAULT_DRIVERS)
    boot.add_argument("--seed", type=int, default=settings.DEFAULT_SEED)
    sim = command("simulate-day", "write a day of driver activity")
    sim.add_argument("--risky-driver", type=int, action="append", default=[],
                     help="give this driver the original demo's bad day (repeatable)")
    sim.add_argument("--seed", type=int, default=settings.DEFAULT_SEED)
    command("batch-job", "compute yesterday's stats and flags for every driver")
    command("materialize", "incremental materialization into the online store")
    score = command("score", "batch-score every driver with the daily model (the registry's champion)")
    score.add_argument("--version", choices=VERSIONS, default=None,
                       help="a hand-set model instead of the served one (the champion, else v1)")
    tick = command("tick", "one cadence tick: simulate day, batch job, materialize, monitor, score")
    tick.add_argument("--seed", type=int, default=settings.DEFAULT_SEED)
    monitor = command("monitor", "Feast's data-quality metrics, drift against the baseline, training/serving "
                      "skew (runs after every batch job, materialization and tick too)")
    monitor.add_argument("--skew-drivers", type=int, default=SKEW_DRIVERS,
                         help=f"drivers in the skew sample (1 to {MAX_SKEW_DRIVERS:,})")
    bug = command("bugs", "list, inject or turn off a realistic batch-job bug (the checks must catch it)")
    bug.add_argument("action", nargs="?", choices=["list", "inject", "off"], default="list")
    bug.add_argument("name", nargs="?", help="the bug to inject (see `riskcore bugs`)")
    override = command("override", "serve the blocked batch output anyway (logged, with the reason)")
    override.add_argument("--reason", required=True, help="why the failed checks may be overridden")

    onboard = command("onboard", "decide on a signup (dated today by the server)")
    onboard.add_argument("--dob", required=True, help="date of birth, YYYY-MM-DD")
    onboard.add_argument("--ssn", required=True, help="123-45-6789, or - to read it from stdin "
                         "(keeps it out of `ps` and shell history)")
    onboard.add_argument("--dl", required=True, help="driver's licence number, or - for the next stdin line")
    onboard.add_argument("--state", required=True, help="two-letter state code")
    onboard.add_argument("--version", choices=VERSIONS, default=DEFAULT_VERSION,
                         help=f"model version; only {DEFAULT_VERSION} registers drivers, others are what-ifs")
    onboard.add_argument("--what-if", action="store_true",
                         help="score and log as a what-if: nobody becomes a driver")
    onboard.add_argument("--date", default=None, help="with --what-if: score as of this date (YYYY-MM-DD)")
    daily = command("daily", "the daily decision for a driver")
    daily.add_argument("--driver-id", required=True)
    daily.add_argument("--version", choices=VERSIONS, default=None,
                       help="a hand-set model instead of the served one (the champion, else v1)")
    train = command("train", "train the daily model from the feature store and register it (MLflow)")
    train.add_argument("--seed", type=int, default=settings.DEFAULT_SEED)
    models = command("models", "registered daily models: list them, promote one to champion, roll back")
    models.add_argument("action", nargs="?", choices=["list", "promote", "rollback"], default="list")
    models.add_argument("version", nargs="?", type=int,
                        help="with promote: the version to make champion (default: the challenger)")

    states = command("states", "list, launch or retire states")
    states.add_argument("action", nargs="?", choices=["list", "launch", "retire"], default="list")
    states.add_argument("state", nargs="?")
    command("status", "registry, materialization, online rows, freshness and consistency")
    decisions = command("decisions", "the latest entries of the decision log")
    decisions.add_argument("--limit", type=int, default=10)
    command("jobs", "job history")
    command("reset", "delete all generated data")
    command("repair", "fix what `status` reports (interrupted jobs and signups, lost or unreadable files)")
    api = command("api", "serve the HTTP API (OpenAPI docs at /docs)")
    api.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    api.add_argument("--port", type=int, default=8000)
    api.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                     help="also accept requests for this Host name (repeatable; loopback names always)")
    api.add_argument("--workers", type=int, default=1, help="worker processes (reads scale with them)")
    return parser


def _progress(done: int, total: int, message: str) -> None:
    print(f"[{done}/{total}] {message}", file=sys.stderr)


def _decision_text(d: Decision) -> str:
    label = d.decision.upper() + ("  (what-if: not recorded as a driver)" if d.what_if else "")
    lines = [
        f"{label}  score={'n/a' if d.score is None else f'{d.score:.4f}'}"
        f"  model={d.model.label}  threshold={d.model.threshold}",
        f"subject: {d.subject}" + (f"  driver_id: {d.driver_id}" if d.driver_id else ""),
        "vector:  " + ", ".join(f"{f}={v:g}" for f, v in zip(d.model.features, d.vector)),
    ]
    if d.replayed:
        lines.append("note:    this application was decided before; this is its original decision")
    if d.review:
        lines.append("review:  " + "; ".join(d.review))
    if d.reasons:
        lines.append("reasons: " + "; ".join(f"{r.text} (+{r.contribution:.3f})" for r in d.reasons))
    t = d.timings
    lines.append(f"timings: retrieval {t.retrieval_ms:.3f} ms, featurization "
                 f"{t.featurization_ms:.3f} ms, inference {t.inference_ms:.3f} ms")
    if d.fallback:
        lines.append(f"note:    {d.fallback}")
    if d.shadow:
        lines.append(f"shadow:  {d.shadow.model} {d.shadow.version} scored {d.shadow.score:.4f} → "
                     f"{d.shadow.decision} (logged, not acted on)")
    if d.log_problem:
        lines.append(f"warning: not logged: {d.log_problem}")
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
    from riskcore.clock import utc_now
    from riskcore.data import jobs, world
    from riskcore.data.ledger import Ledger
    from riskcore.data.store import RiskStore
    from riskcore.serving.decisions import Decisions
    from riskcore.validation import OnboardingApplication

    store = RiskStore()
    command = args.command
    if command not in ("bootstrap", "reset", "status", "repair"):
        store.require_ready()

    if command == "bootstrap":
        results = world.bootstrap(store, drivers=args.drivers, seed=args.seed, progress=_progress)
        return [r.__dict__ for r in results], "\n".join(_job_text(r) for r in results)
    if command == "simulate-day":
        import numpy as np

        roster = store.roster()["driver_id"].to_numpy()
        unknown = sorted(set(args.risky_driver) - set(roster.tolist()))
        if unknown:
            raise InvalidInput("risky-driver", f"no driver {unknown[0]}")
        r = jobs.simulate_day(store, utc_now(), roster, np.array(args.risky_driver, dtype=np.int64), args.seed)
        return r.__dict__, _job_text(r)
    if command in ("batch-job", "materialize", "score", "tick", "override"):
        if command == "tick":
            results = jobs.cadence_tick(store, args.seed, progress=_progress)
        elif command == "batch-job":
            results = jobs.run_and_monitor(store, lambda: jobs.batch_job(store))
        elif command == "materialize":
            results = jobs.run_and_monitor(store, lambda: jobs.materialize(store, progress=_progress))
        elif command == "override":
            results = jobs.run_and_monitor(store, lambda: jobs.override(store, args.reason))
        else:
            results = [jobs.score_all(store, args.version)]
        return [r.__dict__ for r in results], "\n".join(_job_text(r) for r in results)
    if command == "monitor":
        if not 1 <= args.skew_drivers <= MAX_SKEW_DRIVERS:
            raise InvalidInput("skew-drivers", f"expected 1 to {MAX_SKEW_DRIVERS:,}")
        result = jobs.monitor(store, args.skew_drivers)
        return _monitor_payload(store, result), _monitor_text(store, result)
    if command == "bugs":
        return _bugs(store, args)
    if command == "onboard":
        if args.date is not None and not args.what_if:
            raise InvalidInput("date", "a real signup is dated today by the server; add --what-if "
                                       "to score another date (nobody becomes a driver)")
        lines = iter(sys.stdin)
        app = OnboardingApplication.parse(date_of_birth=args.dob, ssn=_secret(args.ssn, "ssn", lines),
                                          licence=_secret(args.dl, "licence", lines), state=args.state,
                                          application_date=args.date if args.what_if else None)
        service = Decisions(store)
        if args.what_if:
            d = service.onboard(app, version=args.version, what_if=True)
        else:
            d = service.onboard(app, version=args.version)
        log.info("onboard %s -> %s%s", d.subject, d.decision, " (what-if)" if d.what_if else "")
        return d.as_dict(), _decision_text(d)
    if command == "daily":
        d = Decisions(store).daily(args.driver_id, version=args.version)
        return d.as_dict(), _decision_text(d)
    if command == "train":
        from riskcore.learning import job

        report = job.train(store, seed=args.seed, progress=_progress)
        return report.as_dict(), _training_text(report)
    if command == "models":
        return _models(store, args.action, args.version)
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
        frame = Ledger(store.paths.ledger_db).decisions(args.limit).drop(columns=["detail"])
        return frame.to_dict("records"), frame.to_string(index=False)
    if command == "jobs":
        frame = Ledger(store.paths.ledger_db).jobs()
        return frame.to_dict("records"), frame.to_string(index=False)
    if command == "repair":
        done = world.repair(store, progress=_progress)
        return {"repaired": done}, done
    if command == "reset":
        world.reset(store)
        return {"reset": str(store.paths.root)}, f"reset {store.paths.root}"
    raise AssertionError(command)


def _models(store: Any, action: str, version: int | None) -> tuple[Any, str]:
    from riskcore.learning.registry import Registry

    registry = Registry(store.paths)
    if action == "promote":
        promoted = registry.promote(version)
        done = f"version {promoted.version} ({promoted.kind}) is the champion; daily decisions use it now"
    elif action == "rollback":
        if version is not None:
            raise InvalidInput("version", "rollback takes no version: it returns to the previous champion")
        back = registry.rollback()
        done = (f"rolled back: version {back.version} is the champion again" if back
                else "rolled back: no champion, the hand-set v1 serves")
    else:
        if version is not None:
            raise InvalidInput("version", "list takes no version")
        done = ""
    versions = registry.versions()
    lines = [done] if done else []
    lines += [f"v{v.version}  {v.kind:<20} {v.join:<22} holdout AUC {v.holdout_auc:.3f}  threshold {v.threshold:.2f}"
              f"  {', '.join(v.aliases)}" for v in versions]
    if not versions:
        lines.append("no registered models yet: run `riskcore train` (the hand-set v1 serves)")
    payload = {"done": done or None, "aliases": registry.aliases(), "versions": [v.as_dict() for v in versions]}
    return payload, "\n".join(lines)


def _training_text(report: Any) -> str:
    s = report.summary
    lines = [f"training set: {s['rows']:,} decisions ({s['train_rows']:,} before {s['split_at'][:10]}, "
             f"{s['holdout_rows']:,} after: the future holdout), incident rate {s['label_rate']:.1%}",
             f"{'model':<28}{'train AUC':>10}{'offline AUC':>13}{'future AUC':>12}{'threshold':>11}{'approved':>10}"]
    for row in report.comparison.itertuples():
        lines.append(f"{row.model:<28}{row.train_auc:>10.3f}{row.offline_auc:>13.3f}{row.holdout_auc:>12.3f}"
                     f"{row.threshold:>11.2f}{row.approval_rate:>10.1%}")
    lines.append("registered: " + ", ".join(f"{name} → v{v}" for name, v in report.registered.items()))
    lines.append("aliases: " + ", ".join(f"{alias} = v{v}" for alias, v in sorted(report.aliases.items())))
    lines.append(f"MLflow run {report.run_id} ({report.seconds:.1f} s)")
    return "\n".join(lines)


def _job_text(result: Any) -> str:
    text = f"{result.job}: {result.summary} in {result.seconds:.2f}s"
    if result.job == "batch_job" and "checks" in result.detail:
        text += f"\n  checks: {'BLOCKED, ' if result.detail['blocked'] else ''}{result.detail['checks']}"
    if result.job == "materialize" and result.detail.get("held_back"):
        text += f"\n  held back: {', '.join(result.detail['held_back'])} (newest batch failed its checks)"
    if result.job == "monitor":
        text += f"\n  {result.detail['summary']}" if "summary" in result.detail else ""
    return text


def _bugs(store: Any, args: argparse.Namespace) -> tuple[Any, str]:
    from riskcore.data import jobs
    from riskcore.quality import bugs

    if args.action == "inject":
        if not args.name:
            raise InvalidInput("bug", f"`bugs inject` needs a bug name: one of {', '.join(bugs.BUGS)}")
        jobs.inject_bug(store, args.name)
    elif args.action == "off":
        jobs.inject_bug(store, None)
    armed = bugs.armed(store.paths)
    payload = {"armed": armed.name if armed else None,
               "bugs": [{"name": b.name, "title": b.title, "caught_by": b.caught_by, "story": b.story}
                        for b in bugs.BUGS.values()]}
    lines = [f"{'*' if armed and b.name == armed.name else ' '} {b.name:<26} {b.title} (caught by: {b.caught_by})"
             for b in bugs.BUGS.values()]
    state = (f"armed: {armed.name} (every batch job injects it until `riskcore bugs off`)" if armed
             else "no bug armed")
    return payload, "\n".join([state, *lines])


def _monitor_payload(store: Any, result: Any) -> dict[str, Any]:
    from riskcore.quality import monitoring

    table = monitoring.overview(store.paths)
    return {**result.detail, "seconds": round(result.seconds, 3), "output": str(store.paths.quality_dir),
            "features": json.loads(table.to_json(orient="records", date_format="iso"))}


def _monitor_text(store: Any, result: Any) -> str:
    from riskcore.quality import drift, monitoring

    table = monitoring.overview(store.paths)
    shown = table.drop(columns=["batch time"]) if len(table) else table
    lines = [f"monitor: {result.detail['summary']} in {result.seconds:.2f}s",
             f"drift: PSI against the bootstrap's baseline (watch > {drift.PSI_WATCH}, alert > {drift.PSI_ALERT})",
             shown.to_string(index=False, float_format=lambda v: f"{v:.4g}")]
    for view, cause in result.detail["skew"]["causes"].items():
        lines.append(f"skew in {view}: {cause}")
    lines.append(f"output: {store.paths.quality_dir} (Feast's tables in feast_monitoring/)")
    return "\n".join(lines)


def _status_payload(status: Any) -> dict[str, Any]:
    return {
        "data_dir": str(status.data_dir),
        "ready": status.ready,
        "writable": status.writable,
        "registry_applied": status.registry_applied,
        "problems": list(status.problems),
        "warnings": list(status.warnings),
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
    lines += [f"warning: {w}" for w in status.warnings]
    if status.views:
        lines.append(status.table().drop(columns=["newest event"]).to_string(index=False))
    return "\n".join(lines)


def _serve_api(args: argparse.Namespace) -> int:
    """Run the API with uvicorn. Loopback unless told otherwise, and then with a warning."""
    import uvicorn

    from riskcore import api

    if args.workers < 1:
        raise InvalidInput("workers", "expected 1 or more")
    if args.host not in LOOPBACK_HOSTS:
        print(f"warning: the API listens on {args.host}: anyone who can reach this address can sign "
              "drivers up. Requests must name an allowed host (--allow-host).", file=sys.stderr)
    allowed = [*LOOPBACK_HOSTS, *args.allow_host]
    if args.host not in ("0.0.0.0", "::"):
        allowed.append(args.host)
    os.environ[api.ALLOWED_HOSTS_ENV] = ",".join(dict.fromkeys(allowed))
    uvicorn.run("riskcore.api:create_app", factory=True, host=args.host, port=args.port,
                workers=args.workers, log_level="warning")
    return 0


def _print(text: str) -> int:
    """Print to stdout; a reader that went away (``riskcore status | head``) is not an error
    worth a traceback."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already printed
        return int(exc.code or 0)
    from riskcore.data.errors import StoreNotReady, StoreNotWritable
    from riskcore.data.ledger import LedgerOutdated
    from riskcore.serving.decisions import UnknownDriver

    # A log that cannot be written (full disk) must not print logging's own traceback.
    logging.raiseExceptions = False
    if settings.paths().root.is_dir():
        # delay=True: the file is only created when something is logged.
        handler = _QuietFileHandler(settings.paths().log_file, delay=True)
        logging.basicConfig(handlers=[handler], level=logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        if args.command == "api":
            return _serve_api(args)
        # Feast prints progress to stdout; keep stdout for our output only.
        with contextlib.redirect_stdout(sys.stderr):
            payload, text = _run(args)
    except (InvalidInput, UnknownDriver, StoreNotReady, settings.PiiKeyMissing, LedgerOutdated, ValueError) as exc:
        # Bad input writes nothing, not even a log line.
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except StoreNotWritable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - a sentence here, the traceback in the log
        log.exception("%s failed", args.command)
        print(f"error: {args.command} failed ({type(exc).__name__}: {exc}); details in "
              f"{settings.paths().log_file}; `riskcore status` says what to repair", file=sys.stderr)
        return 1
    return _print(json.dumps(payload, default=str, indent=2) if args.json else text)


if __name__ == "__main__":
    sys.exit(main())
