"""The code passes the project's lint and format configuration (``ruff.toml``): ``ruff check`` (pyflakes and
pycodestyle, 130 columns) and ``ruff format --check``, so CI fails on a style regression."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TREE = ["bert_cls", "tests", "export", "tuning", "setup.py"]


def _ruff(*args):
    ruff = Path(sys.executable).with_name("ruff")
    ruff = str(ruff) if ruff.exists() else shutil.which("ruff")
    if ruff is None:
        pytest.fail("ruff is not installed: pip install -e '.[test]'")
    return subprocess.run([ruff, *args, *TREE], cwd=ROOT, capture_output=True, text=True)


def test_ruff_check_finds_nothing():
    result = _ruff("check", "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_would_change_nothing():
    result = _ruff("format", "--check", "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr
