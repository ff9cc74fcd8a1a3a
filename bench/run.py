"""Runs every benchmark in bench/ (files named *_bench.py), one after the other.

    make bench                       # all of them, default sizes
    .venv/bin/python bench/run.py seed_demo -- --devices 2000    # one, with its own flags
"""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    names, extra = argv, []
    if "--" in argv:
        split = argv.index("--")
        names, extra = argv[:split], argv[split + 1:]
    scripts = sorted(HERE.glob("*_bench.py"))
    if names:
        scripts = [s for s in scripts if s.stem.removesuffix("_bench") in names]
    status = 0
    for script in scripts:
        print(f"== {script.stem}", flush=True)
        status |= subprocess.call([sys.executable, str(script), *extra], cwd=HERE.parent)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
