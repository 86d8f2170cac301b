#!/usr/bin/env python3
"""One-command set-up for a fresh clone (needs only Python 3.11+):

    python3 dev.py app     # create .venv, install, run the dashboard (bootstraps on first run)
    python3 dev.py app --expose   # the same, reachable from other machines (e.g. an audience)
    python3 dev.py test    # create .venv, install, run every test
    python3 dev.py riskcore ARGS...   # the CLI inside the venv

The venv is re-installed only when pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".installed-from"


def ensure_venv() -> None:
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    if not (BIN / "python").exists():
        print("creating .venv …", flush=True)
        venv.create(VENV, with_pip=True)
    print("installing the project and its test extra …", flush=True)
    subprocess.run([str(BIN / "python"), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
    subprocess.run([str(BIN / "python"), "-m", "pip", "install", "-q", "-e", f"{ROOT}[test]"], check=True)
    STAMP.write_text(wanted)


def expose(port: int) -> None:
    """Before the dashboard opens to the room: the presenter key (made now unless one is set) and
    the address phones should use, printed where the presenter can read them."""
    sys.path.insert(0, str(ROOT))
    from riskcore.stage import presenter

    key = os.environ.setdefault(presenter.PRESENTER_KEY_ENV, presenter.generate_key())
    url = presenter.join_url(os.environ.get(presenter.PUBLIC_URL_ENV), "0.0.0.0", port)
    print("warning: the dashboard listens on every interface: anyone on this network can open it.\n"
          f"  presenter key: {key}  (sidebar > Presenter: unlocks reset, jobs, launches)\n"
          f"  audience:      {url or 'this machine has no network address for phones'}  "
          "(the Talk track page shows it as a QR code)", flush=True)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("app", "test", "riskcore"):
        print(__doc__)
        return 2
    ensure_venv()
    command, rest = argv[0], argv[1:]
    if command == "app":
        if "--expose" in rest:
            rest = [a for a in rest if a != "--expose"] + ["--server.address", "0.0.0.0"]
            expose(int(rest[rest.index("--server.port") + 1]) if "--server.port" in rest else 8501)
        args = [str(BIN / "streamlit"), "run", str(ROOT / "streamlit_app.py"), *rest]
    elif command == "test":
        args = [str(BIN / "python"), "-m", "pytest", *rest]
    else:
        args = [str(BIN / "riskcore"), *rest]
    os.chdir(ROOT)
    return subprocess.call(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
