"""Run the `daycase` command as a user would: a child process, its output captured (tests).

By default the child inherits this environment and the suite's clock; `clean` gives it
only a PATH (and `env`), as on a fresh machine where no DAYCASE_ setting is made.
"""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support.clock import OFFSET_ENV

NEW_YORK = {"DAYCASE_TIMEZONE": "America/New_York"}


def daycase(
    *args: str,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    clean: bool = False,
    timeout_s: float = 180,
) -> subprocess.CompletedProcess[str]:
    base = {"PATH": "/usr/bin:/bin"} if clean else {**os.environ, **OFFSET_ENV}
    return subprocess.run(
        [sys.executable, "-m", "daycase", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=timeout_s,
        env={**base, "COLUMNS": "200", **(env or {})},
        check=False,
    )
