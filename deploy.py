"""neurodeploy's documented entry point: ``python deploy.py --help``.

Runs the command line of the ``neurodeploy`` package next to this file, so that any
checkout runs its own code, installed or not.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from neurodeploy.cli import run  # noqa: E402 - after the path is set

if __name__ == "__main__":
    run(prog="deploy.py")
