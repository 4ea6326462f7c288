import subprocess
import sys

from ftkit.tools import cli, doctor


def test_doctor_passes_offline_and_reports_weights(capsys):
    assert cli.main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "embedded backbone" in out and "verified" in out and "can run" in out


def test_doctor_fails_with_a_fix_when_a_required_check_fails():
    checks = [doctor.Check("embedded backbone", False, "sha256 mismatch", "reinstall ftkit")]
    text, status = doctor.report(checks)
    assert status == 1 and "fix: reinstall ftkit" in text and "cannot run" in text


def test_console_entry_point_runs():
    result = subprocess.run(
        [sys.executable, "-m", "ftkit.tools.cli", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    for command in ("doctor", "pretrain", "bench", "lessons"):
        assert command in result.stdout
