"""``python -m neurodeploy``: the command line (``neurodeploy.cli``)."""
import sys

from .cli import main

sys.exit(main(prog="python -m neurodeploy"))
