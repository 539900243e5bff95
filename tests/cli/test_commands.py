"""Every command through each way users run it (``reid-fast <command>``, ``python -m
reid_fast <command>``, and ``python -m reid_fast.train``), and the one error convention:
a user error prints one ``error:`` line on stderr and exits with code 2."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reid_fast.cli import COMMANDS, run_command


def _console_script() -> str:
    """The ``reid-fast`` script pip installed next to this interpreter (or on PATH)."""
    beside = Path(sys.executable).with_name("reid-fast")
    found = str(beside) if beside.is_file() else shutil.which("reid-fast")
    assert found, "the reid-fast console script is not installed (pyproject [project.scripts])"
    return found


def _run(command: list[str]) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS="100")
    return subprocess.run(command, capture_output=True, text=True, timeout=180, env=env)


def test_reid_fast_help_lists_every_command_with_its_line():
    done = _run([_console_script(), "--help"])
    assert done.returncode == 0, done.stderr
    for name, line in COMMANDS.items():
        assert f"  {name} " in done.stdout and line in done.stdout, name


@pytest.mark.parametrize("name", list(COMMANDS))
def test_help_through_the_console_script(name):
    done = _run([_console_script(), name, "--help"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: reid-fast {name}"), done.stdout[:200]


@pytest.mark.parametrize("name", list(COMMANDS))
def test_help_through_python_m_reid_fast(name):
    done = _run([sys.executable, "-m", "reid_fast", name, "--help"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: reid-fast {name}"), done.stdout[:200]


def test_python_m_reid_fast_train_is_the_train_command():
    done = _run([sys.executable, "-m", "reid_fast.train", "--help"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: reid-fast train")
    assert "--plugins" in done.stdout and "--arch" in done.stdout


def test_an_unknown_command_is_a_usage_error():
    done = _run([sys.executable, "-m", "reid_fast", "nope"])
    assert done.returncode == 2
    assert [line for line in done.stderr.splitlines() if "error:" in line] == [
        "reid-fast: error: argument command: invalid choice: 'nope' (choose from "
        + ", ".join(repr(n) for n in COMMANDS) + ")"]
    with pytest.raises(ValueError, match="name: unknown command 'nope'"):
        run_command("nope", [])


def _missing(tmp_path: Path) -> dict[str, list[str]]:
    """A user error for each command: a file or run folder that is not there."""
    gone = str(tmp_path / "gone")
    npz = str(tmp_path / "gone.npz")
    return {
        "train": ["--resume", gone],
        "extract": [gone, "--output", str(tmp_path / "f.npz"), "--no-progress"],
        "fuse": [npz, npz, "--output", str(tmp_path / "fused.npz")],
        "postprocess": [npz, "--output", str(tmp_path / "post.npz")],
        "rerank": [npz, "--output", str(tmp_path / "d.npz")],
        "evaluate": [npz],
        "submit": [npz, "--output", str(tmp_path / "track2.txt")],
        "visualize": ["ranked", npz],
        "export": [gone],
        "pipeline": [gone, "--output", str(tmp_path / "out"), "--no-progress"],
        "demo": ["--queries", "0"],
    }


@pytest.mark.parametrize("name", list(COMMANDS))
def test_a_user_error_is_one_error_line_and_exit_code_2(name, tmp_path, capsys):
    argv = _missing(tmp_path)[name]
    try:
        code = run_command(name, argv)
    except SystemExit as exit_:  # argparse's own usage errors
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2, err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1, err
    assert "gone" in errors[0] or name == "demo", errors[0]


def test_every_command_module_has_a_parser_and_main():
    import importlib

    for name in COMMANDS:
        module = importlib.import_module(f"reid_fast.cli.{name}")
        assert callable(module.main), name
        assert module.build_parser().prog == f"reid-fast {name}", name


def test_an_offline_download_is_a_user_error(capsys):
    """No network (e.g. --pretrained imagenet): the message, which says how to pass a local
    file, is one error line and exit code 2, not a traceback."""
    from reid_fast.cli import _common

    def offline(_):
        raise ConnectionError("this machine looks offline; pass --pretrained /path/to/file.pth")

    assert _common.run(offline, None) == 2
    err = capsys.readouterr().err
    assert err == "error: this machine looks offline; pass --pretrained /path/to/file.pth\n"
