"""What a user's environment sees of latentlab: the distribution name and the unrelated `latentlab`
beside it, one version, an import that leaves os.environ alone, the `__main__` guard, and the paper
notebooks wherever latentlab is installed.

Each check that depends on what was imported first runs in a fresh interpreter.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# The unrelated distribution's own __init__.py (latentlab 0.2.0 on PyPI, abridged: it imports nothing of ours)
FOREIGN_INIT = '''"""LatentLab Python package. Reserves the top-level ``latentlab`` namespace on PyPI."""
from importlib.metadata import PackageNotFoundError, version as _pkg_version
try:
    __version__ = _pkg_version("latentlab")
except PackageNotFoundError:
    __version__ = "0.0.0+local"
'''


def _python(code: str, *, cwd=ROOT, path: list | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    e = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "OMP_WAIT_POLICY", "OMP_DISPLAY_ENV")}
    if path:
        e["PYTHONPATH"] = os.pathsep.join(map(str, path))
    e.update(env or {})
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=e, capture_output=True, text=True, timeout=300)


def _fake_dist(site: Path, name: str, version: str, files: list[str], scripts: dict | None = None, summary=""):
    """A distribution's metadata as pip leaves it in site-packages (METADATA, RECORD, entry points)."""
    d = site / f"{name.replace('-', '_')}-{version}.dist-info"
    d.mkdir(parents=True)
    (d / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: {summary}\n")
    (d / "RECORD").write_text("".join(f"{f},,\n" for f in [*files, f"{d.name}/METADATA", f"{d.name}/RECORD"]))
    if scripts:
        (d / "entry_points.txt").write_text("[console_scripts]\n" + "".join(f"{k} = {v}\n" for k, v in scripts.items()))


MCP_FILES = ["latentlab/__init__.py", "latentlab/mcp/__init__.py", "latentlab/mcp/server.py"]
MCP_SUMMARY = "LatentLab Python package: MCP server (latentlab.mcp) + reserved namespace for a forthcoming REST SDK"


# ------------------------------------------------------------------ the unrelated `latentlab` distribution
def test_import_fails_loudly_beside_the_unrelated_latentlab(tmp_path):
    site = tmp_path / "site"
    _fake_dist(site, "latentlab", "0.2.0", MCP_FILES, {"latentlab-mcp": "latentlab.mcp.__main__:main"}, MCP_SUMMARY)
    r = _python("import latentlab", cwd=tmp_path, path=[site, ROOT])
    assert r.returncode != 0
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("latentlab._install_check.ForeignLatentlabError: the distribution 'latentlab' 0.2.0")
    assert "MCP server" in last and str(site) in last
    assert "pip uninstall -y latentlab latentlab-sampling && pip install latentlab-sampling" in last


def test_only_the_other_project_counts_as_foreign(tmp_path, monkeypatch):
    """Not foreign: this project under its old distribution name `latentlab` 0.1.0 (an editable
    install may linger), or a `latentlab` that writes no latentlab/ package (it shares no files)."""
    from latentlab._install_check import check_install, foreign_distribution

    assert foreign_distribution() is None  # this environment
    old, other, mcp = tmp_path / "old", tmp_path / "other", tmp_path / "mcp"
    _fake_dist(old, "latentlab", "0.1.0", ["__editable__.latentlab-0.1.0.pth"], {"latentlab": "latentlab.cli:main"})
    _fake_dist(other, "latentlab", "9.0", ["latentlab_other/__init__.py"])
    _fake_dist(mcp, "latentlab", "0.2.0", MCP_FILES, {"latentlab-mcp": "latentlab.mcp.__main__:main"}, MCP_SUMMARY)
    for site, foreign in ((old, False), (other, False), (mcp, True)):
        with monkeypatch.context() as m:
            m.syspath_prepend(str(site))
            assert (foreign_distribution() is not None) == foreign, site
            if foreign:
                with pytest.raises(ImportError, match="pip uninstall -y latentlab latentlab-sampling"):
                    check_install()


def test_command_fails_with_one_line_when_the_other_init_replaced_ours(tmp_path):
    """Installed after us, the other project's __init__.py overwrote ours: `import latentlab` is theirs
    (nothing of ours runs), but `latentlab` / `python -m latentlab` still check first."""
    import shutil

    site = tmp_path / "site"
    shutil.copytree(ROOT / "latentlab", site / "latentlab", ignore=shutil.ignore_patterns("__pycache__"))
    (site / "latentlab" / "__init__.py").write_text(FOREIGN_INIT)
    _fake_dist(site, "latentlab", "0.2.0", MCP_FILES, {"latentlab-mcp": "latentlab.mcp.__main__:main"}, MCP_SUMMARY)
    e = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run(
        [sys.executable, "-m", "latentlab", "--version"],
        cwd=tmp_path,
        env={**e, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith("latentlab: error: the distribution 'latentlab' 0.2.0") and r.stderr.count("\n") == 1


# ------------------------------------------------------------------ one version
def test_version_is_single_sourced():
    from latentlab import _version

    py = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert py["project"]["name"] == "latentlab-sampling" and "version" not in py["project"]
    assert "version" in py["project"]["dynamic"]
    assert py["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "latentlab._version.__version__"}
    written = [f.relative_to(ROOT) for f in (ROOT / "latentlab").rglob("*.py") if "__version__ = " in f.read_text()]
    assert written == [Path("latentlab/_version.py")], written
    assert f"## [{_version.__version__}]" in (ROOT / "CHANGELOG.md").read_text(), "add a CHANGELOG entry"


def test_version_flag_prints_the_version(capsys):
    import latentlab
    from latentlab.cli import main

    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out == f"latentlab {latentlab.__version__}\n"
    from importlib import metadata

    try:  # installed (editable or not): the metadata carries the same version
        assert metadata.version("latentlab-sampling") == latentlab.__version__
    except metadata.PackageNotFoundError:
        pass


def test_python_m_latentlab_runs_the_cli_and_importing_main_runs_nothing(capsys):
    import importlib

    import latentlab

    r = subprocess.run([sys.executable, "-m", "latentlab", "--version"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and r.stdout == f"latentlab {latentlab.__version__}\n", r.stderr
    m = importlib.import_module("latentlab.__main__")  # unguarded, this would parse pytest's argv and exit
    assert callable(m.main) and capsys.readouterr() == ("", "")


# ------------------------------------------------------------------ import leaves the environment alone
_ENV_PROBE = (
    "import os, json; before = dict(os.environ); import {mod}; after = dict(os.environ); "
    "print(json.dumps(sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))))"
)


def test_import_leaves_os_environ_as_scikit_learn_does():
    """latentlab's own import changes nothing; the only changes are scikit-learn's own (KMP_*)."""
    import json

    ours = json.loads(_python(_ENV_PROBE.format(mod="latentlab")).stdout)
    sklearns = json.loads(_python(_ENV_PROBE.format(mod="sklearn")).stdout)
    assert "OMP_WAIT_POLICY" not in ours
    assert ours == sklearns


@pytest.mark.parametrize(
    "env, spincount, policy",
    [
        ({}, "0", "PASSIVE"),  # latentlab's default: passive waiting in both OpenMP runtimes
        ({"OMP_WAIT_POLICY": "ACTIVE"}, "30000000000", "ACTIVE"),  # the user's choice wins
        ({"LATENTLAB_THREAD_POLICY": "off"}, "300000", "None"),  # OpenMP's own default
    ],
)
def test_openmp_reads_the_wait_policy_at_import(env, spincount, policy):
    """libgomp prints what it read when it loads (OMP_DISPLAY_ENV=VERBOSE): GOMP_SPINCOUNT is 0 under
    PASSIVE, 300000 by default, 3e10 under ACTIVE, for torch's libgomp and scikit-learn's copy."""
    code = "import os, latentlab.threads as t; print('policy', t.wait_policy(), os.environ.get('OMP_WAIT_POLICY'))"
    r = _python(code, env={"OMP_DISPLAY_ENV": "VERBOSE", **env})
    assert r.returncode == 0, r.stderr
    counts = [ln.split("=")[1].strip().strip("'") for ln in r.stderr.splitlines() if "GOMP_SPINCOUNT" in ln]
    assert len(counts) >= 1 and set(counts) == {spincount}, r.stderr
    assert r.stdout.split() == ["policy", policy, env.get("OMP_WAIT_POLICY", "None")]


def test_torch_imported_first_keeps_openmp_defaults_and_env():
    r = _python("import os, torch, latentlab.threads as t; print(t.wait_policy(), 'OMP_WAIT_POLICY' in os.environ)")
    assert r.stdout.split() == ["None", "False"], r.stderr


# ------------------------------------------------------------------ the paper notebooks and grids
def test_notebooks_in_a_checkout_are_the_repository_folder():
    from latentlab.resources import notebooks_dir, paper_files

    assert notebooks_dir() == ROOT / "notebooks"
    files = {str(f) for f in paper_files()}
    on_disk = {p.name for p in (ROOT / "notebooks").glob("*.ipynb")}
    on_disk |= {f"grids/{p.name}" for p in (ROOT / "notebooks" / "grids").glob("*.yaml")}
    assert files == on_disk and "01_mnist.ipynb" in files and "grids/smoke_digits.yaml" in files


def test_notebooks_command_copies_and_never_overwrites_unasked(tmp_path, capsys):
    from latentlab.cli import main

    dest = tmp_path / "nb"
    assert main(["notebooks", str(dest)]) == 0
    assert (dest / "01_mnist.ipynb").read_bytes() == (ROOT / "notebooks" / "01_mnist.ipynb").read_bytes()
    assert (dest / "grids" / "smoke_digits.yaml").is_file()
    (dest / "01_mnist.ipynb").write_text("my edits")
    assert main(["notebooks", str(dest)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (dest / "01_mnist.ipynb").read_text() == "my edits"  # nothing copied when refused
    assert main(["notebooks", str(dest), "--overwrite"]) == 0
    assert (dest / "01_mnist.ipynb").read_bytes() == (ROOT / "notebooks" / "01_mnist.ipynb").read_bytes()
    capsys.readouterr()
    assert main(["notebooks"]) == 0
    out = capsys.readouterr().out
    assert str(ROOT / "notebooks") in out and "grids/mnist_table1.yaml" in out


def test_sweep_finds_a_named_paper_notebook_or_grid_from_any_folder(tmp_path, monkeypatch):
    from latentlab.exceptions import ConfigError
    from latentlab.resources import packaged_or_given

    monkeypatch.chdir(tmp_path)
    said = []
    assert packaged_or_given("notebooks/01_mnist.ipynb", "notebook", said.append) == ROOT / "notebooks/01_mnist.ipynb"
    assert packaged_or_given("01_mnist.ipynb", "notebook", said.append) == ROOT / "notebooks/01_mnist.ipynb"
    grid = ROOT / "notebooks/grids/smoke_digits.yaml"
    assert packaged_or_given("notebooks/grids/smoke_digits.yaml", "grid", said.append) == grid
    assert packaged_or_given("smoke_digits.yaml", "grid", said.append) == grid
    assert len(said) == 4 and "installed with latentlab" in said[0]
    mine = tmp_path / "01_mnist.ipynb"  # a file of the user's own always wins
    mine.write_text("{}")
    assert packaged_or_given("01_mnist.ipynb", "notebook", said.append) == Path("01_mnist.ipynb")
    with pytest.raises(ConfigError, match="latentlab notebooks"):
        packaged_or_given("nope.ipynb", "notebook", said.append)
    with pytest.raises(ConfigError, match="not found"):
        packaged_or_given("../pyproject.toml", "grid", said.append)


# ------------------------------------------------------------------ cache folder
def test_cache_dir_follows_the_platform_unless_latentlab_cache_is_set(monkeypatch, tmp_path):
    import platformdirs

    from latentlab.storage import cache_dir

    monkeypatch.setenv("LATENTLAB_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.delenv("LATENTLAB_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    expected = Path(platformdirs.user_cache_dir("latentlab", appauthor=False))
    assert cache_dir() == expected
    if sys.platform.startswith("linux"):
        assert expected == tmp_path / "xdg" / "latentlab"  # what it was before platformdirs, ~/.cache/latentlab
