"""The README's first command is the command benchmarks/first_command.py measured."""

from conftest import ROOT, load_benchmark


def test_readme_runs_the_measured_command():
    mod = load_benchmark("first_command")
    readme = (ROOT / "README.md").read_text()
    assert ".venv/bin/" + mod.command_text() + "\n" in readme
    assert "--alpha auto" in mod.command_text() and "snn-random-dir" in mod.command_text()
