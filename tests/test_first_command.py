"""The README's first command is the command benchmarks/first_command.py measured."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_runs_the_measured_command():
    spec = importlib.util.spec_from_file_location("first_command", ROOT / "benchmarks" / "first_command.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    readme = (ROOT / "README.md").read_text()
    assert ".venv/bin/" + mod.command_text() + "\n" in readme
    assert "--alpha auto" in mod.command_text() and "snn-random-dir" in mod.command_text()
