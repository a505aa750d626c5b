"""machine.json in every run folder, and compare's warning when runs came from different kernel paths."""

from __future__ import annotations

import json

import pytest
import torch

from latentlab.cli import main
from latentlab.machine import kernel_path_warnings, machine_info, read_machine, write_machine
from latentlab.report import write_csv


def test_machine_info_names_the_kernel_path():
    info = machine_info()
    assert info["cpu_capability"] == str(torch.backends.cpu.get_cpu_capability())
    assert info["torch"] == torch.__version__
    assert info["torch_threads"] == torch.get_num_threads()
    assert info["cpu_model"]


def _run_folder(path, capability: str, value: float):
    path.mkdir()
    rows = [
        {"dataset": "digits", "strategy": s, "seed": seed, "round": 1, "n_labelled": 20, "metric": "accuracy",
         "value": value + (s == "snn") + seed}
        for s in ("random", "snn")
        for seed in (0, 1)
    ]  # fmt: skip
    write_csv(path / "results.csv", rows)
    info = write_machine(path)
    info["cpu_capability"] = capability
    (path / "machine.json").write_text(json.dumps(info))
    return path


def test_write_and_read_machine(tmp_path):
    write_machine(tmp_path)
    assert read_machine(tmp_path) == json.loads((tmp_path / "machine.json").read_text())
    assert read_machine(tmp_path / "nowhere") is None


def test_same_kernel_path_gives_no_warning(tmp_path):
    a = _run_folder(tmp_path / "a", "AVX512", 50.0)
    b = _run_folder(tmp_path / "b", "AVX512", 50.0)
    assert kernel_path_warnings([a, b]) == []


def test_compare_warns_on_different_kernel_paths(tmp_path, capsys):
    a = _run_folder(tmp_path / "a", "AVX512", 50.0)
    b = _run_folder(tmp_path / "b", "DEFAULT", 50.0)
    (w,) = kernel_path_warnings([a, b])
    assert "AVX512" in w and "DEFAULT" in w
    (a / "machine.json").unlink()
    assert "no machine.json" in kernel_path_warnings([a, b])[0]
    _run_folder(tmp_path / "c", "DEFAULT", 50.0)
    assert main(["compare", str(tmp_path / "c"), str(b / "results.csv")]) == 0
    assert "kernel path" not in capsys.readouterr().err
    with pytest.warns(UserWarning, match="different machines or CPU kernel paths"):
        assert main(["compare", str(tmp_path / "c"), str(_run_folder(tmp_path / "d", "AVX2", 50.0))]) == 0
