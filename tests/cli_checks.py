"""Running deploy.py's main() in-process in tests, and what a refused command must look like."""
from __future__ import annotations

from neurodeploy import cli


def run(argv, capsys):
    """main(argv)'s exit status and what it printed."""
    status = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def assert_user_error(argv, capsys, tmp_path, message):
    """The command is refused with exit 2 and one "error: ..." line containing ``message``, no
    traceback, and no report directory."""
    report_dir = tmp_path / "should-not-exist"
    status, out, err = run([*argv, "--report-dir", report_dir], capsys)
    assert status == 2, (out, err)
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert message in err, err
    assert "Traceback" not in err + out
    assert not report_dir.exists()
