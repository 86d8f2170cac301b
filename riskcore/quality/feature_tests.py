"""The feature unit tests, run on demand from the dashboard: the same pytest files CI runs.

pytest runs in a subprocess (a failing or hanging test cannot take the server down, and the
tests see a fresh interpreter, as in CI) and writes its own JUnit XML report into the data dir;
this module reads names, outcomes and durations back from it. Nothing is written to the
checkout: no cache directory, no bytecode.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from riskcore import settings
from riskcore.settings import Paths

# Every feature function and the batch job's logic, checks and bugs, at their edges.
FEATURE_TEST_FILES = ("tests/test_features.py", "tests/test_checks.py")
TIMEOUT_SECONDS = 300
REPORT = "latest.xml"


class FeatureTestsUnavailable(RuntimeError):
    """The tests cannot run here (not a checkout, or pytest missing): say what to do."""


@dataclass(frozen=True)
class FeatureTestResult:
    file: str
    name: str
    outcome: str  # passed, failed, error or skipped
    seconds: float
    message: str


@dataclass(frozen=True)
class FeatureTestRun:
    finished: datetime
    seconds: float
    cases: tuple[FeatureTestResult, ...]

    @property
    def counts(self) -> dict[str, int]:
        return pd.Series([c.outcome for c in self.cases], dtype=object).value_counts().to_dict()

    @property
    def passed(self) -> bool:
        return bool(self.cases) and all(c.outcome in ("passed", "skipped") for c in self.cases)

    def summary(self) -> str:
        counts = ", ".join(f"{n} {outcome}" for outcome, n in sorted(self.counts.items()))
        failed = [c.name for c in self.cases if c.outcome in ("failed", "error")]
        failing = f"; failing: {', '.join(failed[:5])}" if failed else ""
        return f"{counts or 'no tests'} in {self.seconds:.1f} s{failing}"

    def table(self) -> pd.DataFrame:
        return pd.DataFrame([{"test": c.name, "file": c.file, "outcome": c.outcome,
                              "seconds": round(c.seconds, 4), "message": c.message} for c in self.cases])


def run(paths: Paths, files: tuple[str, ...] = FEATURE_TEST_FILES) -> FeatureTestRun:
    """Run the feature tests with pytest in a subprocess; the report lands in the data dir."""
    missing = [f for f in files if not (settings.REPO_ROOT / f).is_file()]
    if missing:
        raise FeatureTestsUnavailable(f"the feature tests are not here ({', '.join(missing)}): they ship "
                                      "with the repository, not the installed package")
    if importlib.util.find_spec("pytest") is None:
        raise FeatureTestsUnavailable("pytest is not installed: pip install -e '.[test]'")
    paths.feature_tests_dir.mkdir(parents=True, exist_ok=True)
    temp = paths.feature_tests_dir / f".{uuid.uuid4().hex}.xml.tmp"
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        subprocess.run(
            [sys.executable, "-m", "pytest", *files, "-q", "-p", "no:cacheprovider", f"--junitxml={temp}"],
            cwd=settings.REPO_ROOT, env=env, capture_output=True, timeout=TIMEOUT_SECONDS, check=False)
        if not temp.exists():
            raise FeatureTestsUnavailable("pytest wrote no report (see `python -m pytest "
                                          f"{' '.join(files)}` in a terminal)")
        os.replace(temp, paths.feature_tests_dir / REPORT)
    except subprocess.TimeoutExpired:
        raise FeatureTestsUnavailable(
            f"the feature tests took longer than {TIMEOUT_SECONDS} s and were stopped") from None
    finally:
        temp.unlink(missing_ok=True)
    return parse(paths.feature_tests_dir / REPORT)


def latest(paths: Paths) -> FeatureTestRun | None:
    """The last run's results, or None if the tests never ran here."""
    report = paths.feature_tests_dir / REPORT
    return parse(report) if report.exists() else None


def parse(report: Path) -> FeatureTestRun:
    """pytest's JUnit XML: one ``testcase`` per test, a child element if it did not pass."""
    root = ET.parse(report).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    cases = []
    for case in (c for suite in suites for c in suite.iter("testcase")):
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            found = case.find(tag)
            if found is not None:
                outcome = "failed" if tag == "failure" else tag
                text = found.get("message") or ""
                message = text.splitlines()[0][:200] if text else ""
                break
        module = case.get("classname", "").split(".")
        file = "/".join(module[:2]) + ".py" if len(module) >= 2 else case.get("classname", "")
        cases.append(FeatureTestResult(file=file, name=case.get("name", ""), outcome=outcome,
                                       seconds=float(case.get("time") or 0), message=message))
    seconds = sum(float(s.get("time") or 0) for s in suites)
    finished = datetime.fromtimestamp(report.stat().st_mtime, timezone.utc)
    return FeatureTestRun(finished, seconds, tuple(cases))
