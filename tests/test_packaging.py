"""The project's own promises about packaging and layout."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ;]", req.strip(), maxsplit=1)[0].lower()


def test_environment_yml_names_every_pyproject_dependency():
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(py["dependencies"])
    for extra, items in py["optional-dependencies"].items():
        reqs += [r for r in items if not r.startswith("latentlab")]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    names = set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            names |= {_name(d) for d in dep.get("pip", [])}
        else:
            names.add(_name(dep.split("=")[0] if "==" not in dep else dep))
    missing = sorted({_name(r) for r in reqs} - names)
    assert not missing, f"add to environment.yml: {missing}"


# tested at both ends by benchmarks/torch_bounds.py (raw results in benchmarks/results/torch_bounds/)
TORCH = "torch>=2.13,<2.15"


def test_torch_is_one_range_everywhere_and_ci_installs_its_cpu_lower_bound():
    """A range keeps a torch the user has; CI installs the CPU build of the lower bound first and
    checks that the project install kept it (no CUDA build slipped in)."""
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert [r for r in py if _name(r) == "torch"] == [TORCH]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert [r for r in pip if _name(r) == "torch"] == [TORCH]
    ci = (ROOT / ".ci" / "run").read_text()
    first, project = ci.index("pip install torch==2.13.0"), ci.index("pip install -e '.[dev]'")
    assert first < project, "CI installs the CPU torch before the project"
    assert "torch.version.cuda is None" in ci and "torch.__version__" in ci


def test_license_and_changelog():
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert py["license"] == "BSD-3-Clause" and py["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("BSD 3-Clause License") and "latentlab developers" in text
    assert "Neither the name of the copyright holder" in text  # the third clause
    log = (ROOT / "CHANGELOG.md").read_text()
    assert log.startswith("# Changelog") and "keepachangelog.com" in log


def test_package_data_ships_every_notebook_grid_py_typed_and_shipped_weight_and_label():
    """What the globs in [tool.setuptools.package-data] match is what the wheel carries
    (tests/test_wheel.py checks the built wheel itself)."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert data["latentlab"] == [
        "py.typed", "weights/*.pt", "weights/*.json", "vessels/labels/*.npz", "vessels/labels/*.json",
    ]  # fmt: skip
    assert (ROOT / "latentlab" / "py.typed").is_file()
    for folder, globs in (("weights", ("*.pt", "*.json")), ("vessels/labels", ("*.npz", "*.json"))):
        d = ROOT / "latentlab" / folder
        files = {p.name for p in d.iterdir() if p.is_file()}
        globbed = {p.name for g in globs for p in d.glob(g)}
        assert files and files == globbed, f"not shipped in the wheel: {sorted(files - globbed)}"
    nb = ROOT / "notebooks"
    assert data["latentlab.notebooks"] == ["*.ipynb"] and data["latentlab.notebooks.grids"] == ["*.yaml"]
    everything = {p.relative_to(nb) for p in nb.rglob("*") if p.is_file() and ".ipynb_checkpoints" not in p.parts}
    shipped = {p.relative_to(nb) for p in [*nb.glob("*.ipynb"), *nb.glob("grids/*.yaml")]}
    assert everything == shipped, f"not shipped in the wheel: {sorted(map(str, everything - shipped))}"


def test_core_never_imports_panel_bokeh_or_widgets():
    code = (
        "import sys, latentlab, latentlab.cli; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('panel', 'bokeh') "
        "or m.startswith(('widgets', 'latentlab.widgets'))]; "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"latentlab imported {out}"


def test_core_sources_do_not_mention_panel_imports():
    for f in (ROOT / "latentlab").rglob("*.py"):
        text = f.read_text()
        assert not re.search(r"^\s*(import|from)\s+(panel|bokeh|widgets|latentlab\.widgets)\b", text, re.M), f
        assert not re.search(r"^\s*from\s+\.+\s*import\s+.*\bwidgets\b|^\s*from\s+\.+widgets\b", text, re.M), f


def test_packages_list_every_package_and_no_top_level_widgets():
    """setuptools installs exactly the listed packages: each latentlab sub-folder with an __init__, the
    view as latentlab.widgets (from widgets/) and the notebooks as latentlab.notebooks (data only);
    never a top-level `widgets` or `notebooks`."""
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {".".join(f.parent.relative_to(ROOT).parts) for f in (ROOT / "latentlab").rglob("__init__.py")}
    assert set(tool["packages"]) == on_disk | {"latentlab.widgets", "latentlab.notebooks", "latentlab.notebooks.grids"}
    assert tool["package-dir"] == {"latentlab.widgets": "widgets", "latentlab.notebooks": "notebooks"}


def test_the_view_imports_as_latentlab_widgets_from_this_checkout():
    code = (
        "import latentlab.widgets as w, latentlab.widgets.explorer as e, sys; "
        "print(w.__file__, e.__file__, 'widgets' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.split()
    assert out[0] == str(ROOT / "widgets" / "__init__.py") and out[1] == str(ROOT / "widgets" / "explorer.py")
    assert out[2] == "False"


def test_view_reads_only_public_state():
    """widgets/ draws ExplorerState through its public names: no reaching into state.loop or privates."""
    for f in (ROOT / "widgets").glob("*.py"):
        text = f.read_text()
        # (?<![.\w]): ExplorerState bound to s/state/self.state, not Panel's pn.state
        assert not re.search(r"(?<![.\w])(s|state|self\.state)\.loop\b", text), f
        assert not re.search(r"(?<![.\w])(s|state|self\.state)\._[a-z]", text), f
        assert "latentlab.explorer_state import ExplorerState" in text or "ExplorerState" not in text, f
