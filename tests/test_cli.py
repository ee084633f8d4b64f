"""The `fastconv` command: demo and info, in process and as the installed console script."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import fastconv
from fastconv.cli import main


@pytest.mark.parametrize("name", fastconv.backends())
def test_demo_matches_the_lecture(name, capsys):
    assert main(["demo", "--backend", name]) == 0
    out = capsys.readouterr().out
    for text in ("1,792", "254x254x64", "256x256x64", "128x128x64", "245 features",
                 "[1, 1, 0, 4, 2, 1, 0, 2, 1]", "All steps match the lecture."):
        assert text in out
    assert "DOES NOT MATCH" not in out


def test_demo_rejects_an_unknown_backend(capsys):
    assert main(["demo", "--backend", "gpu"]) == 2
    assert "gpu" in capsys.readouterr().err


def test_info(capsys):
    assert main(["info"]) == 0
    assert "backends:" in capsys.readouterr().out


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "demo" in capsys.readouterr().out


def test_module_and_console_script():
    result = subprocess.run([sys.executable, "-m", "fastconv", "info"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "fastconv" in result.stdout
    beside_python = Path(sys.executable).with_name("fastconv")
    script = str(beside_python) if beside_python.exists() else shutil.which("fastconv")
    if script is None:
        pytest.skip("no fastconv console script (the package was not installed with pip)")
    result = subprocess.run([script, "demo"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "All steps match the lecture." in result.stdout


def test_train_digits_command(tmp_path, capsys):
    pytest.importorskip("sklearn")
    plot = tmp_path / "loss.png"
    has_matplotlib = True
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        has_matplotlib = False
    code = main(["train-digits", "--epochs", "2"] + (["--plot", str(plot)] if has_matplotlib else []))
    assert code == 0
    assert "test accuracy" in capsys.readouterr().out
    if has_matplotlib:
        assert plot.stat().st_size > 0
