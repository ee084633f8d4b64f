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


def _write_png(path, array, mode):
    from PIL import Image

    Image.fromarray(array, mode=mode).save(path)


def test_filter_command(tmp_path, capsys):
    Image = pytest.importorskip("PIL.Image")
    import numpy as np

    rng = np.random.default_rng(0)
    rgba = rng.integers(0, 256, (20, 17, 4)).astype(np.uint8)
    _write_png(tmp_path / "a.png", rgba, "RGBA")
    gray = rng.integers(0, 256, (9, 11)).astype(np.uint8)
    _write_png(tmp_path / "b.png", gray, "L")

    assert main(["filter", str(tmp_path / "a.png"), "-k", "sharpen", "-o", str(tmp_path / "out.png")]) == 0
    result = np.asarray(Image.open(tmp_path / "out.png"))
    expected = fastconv.filter2d(rgba[..., :3], fastconv.kernels.sharpen(), border="reflect", channel_axis=-1,
                                 dtype=np.uint8)
    np.testing.assert_array_equal(result[..., :3], expected)
    np.testing.assert_array_equal(result[..., 3], rgba[..., 3])  # alpha untouched

    assert main(["filter", str(tmp_path / "a.png"), str(tmp_path / "b.png"), "-k", "sobel",
                 "-o", str(tmp_path / "folder"), "--border", "nearest"]) == 0
    magnitude = np.asarray(Image.open(tmp_path / "folder" / "b.png")).astype(float)
    gx = fastconv.filter2d(gray, fastconv.kernels.sobel_x(), border="nearest", dtype=np.float64)
    gy = fastconv.filter2d(gray, fastconv.kernels.sobel_y(), border="nearest", dtype=np.float64)
    np.testing.assert_array_equal(magnitude, np.clip(np.rint(np.hypot(gx, gy)), 0, 255))

    assert main(["filter", "--list"]) == 0
    assert "sharpen" in capsys.readouterr().out


@pytest.mark.parametrize("args, words", [
    (["filter", "missing.png", "-k", "sharpen"], "no such file"),
    (["filter", "{png}", "-k", "blurry"], "unknown kernel"),
    (["filter", "{txt}", "-k", "sharpen"], "cannot read image"),
    (["filter", "{png}", "{png}", "-k", "sharpen"], "-o FOLDER"),
])
def test_filter_command_errors(tmp_path, capsys, args, words):
    pytest.importorskip("PIL.Image")
    import numpy as np

    png = tmp_path / "x.png"
    _write_png(png, np.zeros((4, 4), np.uint8), "L")
    txt = tmp_path / "x.txt"
    txt.write_text("not an image")
    code = main([a.format(png=png, txt=txt) for a in args])
    err = capsys.readouterr().err
    assert code != 0 and words in err and "Traceback" not in err and err.count("\n") == 1
