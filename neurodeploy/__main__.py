"""``python -m neurodeploy``: the command line (``neurodeploy.cli``)."""
from .cli import run

run(prog="python -m neurodeploy")
