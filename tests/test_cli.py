import subprocess
import sys

from tailtag.cli import main


def test_help_lists_commands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("demo", "inspect", "split"):
        assert command in out


def test_unknown_option_is_a_user_error(capsys):
    assert main(["inspect", "--no-such-flag", "x.csv"]) == 2
    assert "fix:" in capsys.readouterr().err


def test_missing_label_file_exits_2_without_traceback(tmp_path, capsys):
    assert main(["inspect", str(tmp_path / "nope.csv")]) == 2
    err = capsys.readouterr().err
    assert "nope.csv" in err and "Traceback" not in err


def test_python_dash_m_entry_point():
    result = subprocess.run([sys.executable, "-m", "tailtag", "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.startswith("tailtag ")


def test_label_tooling_does_not_import_torch():
    code = "import sys, tailtag.cli, tailtag.labels; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
