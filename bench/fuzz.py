"""The long fuzzing run: tests/test_fuzz.py with many examples and every schemathesis phase.

    python bench/fuzz.py                  # 300 examples per operation, all phases
    python bench/fuzz.py --examples 2000

Zero 5xx, zero schema-breaking answers, and a healthy server afterwards, or a failing exit.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--examples", type=int, default=300)
    parser.add_argument(
        "--phases", default="examples,coverage,fuzzing", help="schemathesis phases to run"
    )
    args = parser.parse_args()
    env = {
        **os.environ,
        "PARLEY_FUZZ_EXAMPLES": str(args.examples),
        "PARLEY_FUZZ_PHASES": args.phases,
    }
    command = [sys.executable, "-m", "pytest", "tests/test_fuzz.py", "-q", "-p", "no:cacheprovider",
               "-o", "timeout=0"]  # fmt: skip
    return subprocess.call(command, cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main())
