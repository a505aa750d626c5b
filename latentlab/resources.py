"""The paper notebooks (and the classroom lesson, ``06_lesson.ipynb``) and sweep grids, wherever latentlab is.

A wheel carries them as package data in ``latentlab/notebooks/`` (pyproject.toml maps the
repository's top-level ``notebooks/`` folder there, grids in ``notebooks/grids/``); a source
checkout (an editable install, or ``PYTHONPATH``) has them in ``notebooks/`` beside ``latentlab/``.

``latentlab notebooks DIR`` copies them out (``DIR/*.ipynb``, ``DIR/grids/*.yaml``), so that the
README's commands (``papermill notebooks/01_mnist.ipynb ...``) work after
``latentlab notebooks notebooks`` in any folder; ``latentlab notebooks`` alone lists them.
``latentlab sweep`` given a notebook or grid path that does not exist, but that names one of
these files (``notebooks/01_mnist.ipynb``, ``01_mnist.ipynb``, ``notebooks/grids/smoke_digits.yaml``),
uses the installed file and says so.

Every ``notebooks/*.ipynb`` ships: the paper notebooks (01-04), the explorer (00), the lesson (06) and
``05_your_data.ipynb``, the template for running latentlab on your own data, model and strategy
(docs/your-data.md).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .exceptions import ConfigError

__all__ = ["notebooks_dir", "paper_files", "copy_notebooks", "packaged_or_given", "configure_parser"]

_REINSTALL = "reinstall latentlab-sampling (its wheel carries them) or work in a source checkout"


def notebooks_dir() -> Path:
    """The folder holding the paper notebooks (``*.ipynb``) and ``grids/*.yaml``."""
    here = Path(__file__).resolve().parent
    installed = here / "notebooks"
    checkout = here.parent / "notebooks"
    for d, ok in ((installed, True), (checkout, (here.parent / "pyproject.toml").is_file())):
        if ok and (d / "grids").is_dir() and any(d.glob("*.ipynb")):
            return d
    raise ConfigError(f"the paper notebooks are not in {installed} nor in a source checkout; {_REINSTALL}")


def paper_files() -> list[Path]:
    """Every packaged file, relative to :func:`notebooks_dir`: the notebooks, then the grids."""
    d = notebooks_dir()
    return [p.relative_to(d) for p in sorted(d.glob("*.ipynb")) + sorted((d / "grids").glob("*.yaml"))]


def copy_notebooks(dest, overwrite: bool = False) -> list[Path]:
    """Copy the notebooks and grids into ``dest`` (created); returns the files written.

    Refuses, before copying anything, if one of them exists already there (it may hold your
    edits) unless ``overwrite``.
    """
    src, dest = notebooks_dir(), Path(dest)
    if dest.exists() and not dest.is_dir():
        raise ConfigError(f"{dest} is a file; give a folder for the notebooks")
    files = paper_files()
    clash = [str(f) for f in files if (dest / f).exists()]
    if clash and not overwrite:
        raise ConfigError(
            f"{dest} already holds {', '.join(clash[:3])}{' ...' if len(clash) > 3 else ''}; "
            "choose another folder or pass --overwrite to replace them"
        )
    out = []
    for f in files:
        (dest / f).parent.mkdir(parents=True, exist_ok=True)
        out.append(Path(shutil.copyfile(src / f, dest / f)))
    return out


def packaged_or_given(path, what: str, log=print) -> Path:
    """``path`` if it exists; else the installed notebook or grid it names; else one line naming the fix.

    ``what`` is ``"notebook"`` or ``"grid"`` (for the messages). A name matches when it equals a
    packaged file's path relative to the notebooks folder, with or without a leading ``notebooks/``
    (and, for a grid, without ``grids/``).
    """
    p = Path(path)
    if p.exists():
        return p
    try:
        d = notebooks_dir()
    except ConfigError:
        d = None
    if d is not None:
        parts = p.parts[1:] if p.parts[:1] == ("notebooks",) else p.parts
        rel = Path(*parts) if parts else p
        for cand in (d / rel, d / "grids" / rel):
            if cand.is_file() and cand.resolve().parent in (d, d / "grids"):  # nothing outside these two
                log(f"latentlab: {what} {path} is not here; using the one installed with latentlab: {cand}")
                return cand
    hint = f"'latentlab notebooks' lists the installed paper {what}s" if d is not None else _REINSTALL
    raise ConfigError(f"{what} {path} not found; {hint}")


# --------------------------------------------------------------------------- CLI (latentlab notebooks)
def configure_parser(p) -> None:
    p.add_argument("dir", nargs="?", default=None, help="folder to copy them into (created); omit to list them")
    p.add_argument("--overwrite", action="store_true", help="replace files of the same name already in DIR")
    p.set_defaults(func=cmd_notebooks)


def cmd_notebooks(a) -> int:
    if a.dir is None:
        d = notebooks_dir()
        print(f"paper notebooks and sweep grids in {d}:")
        for f in paper_files():
            print(f"  {f}")
        print("copy them out with: latentlab notebooks DIR")
        return 0
    files = copy_notebooks(a.dir, overwrite=a.overwrite)
    print(f"copied {len(files)} files into {Path(a.dir)} (notebooks and grids/); e.g.")
    print(f"  papermill {Path(a.dir) / '01_mnist.ipynb'} smoke.ipynb -p smoke True")
    print(f"your own data, model and strategy: {Path(a.dir) / '05_your_data.ipynb'}")
    print(f"  papermill {Path(a.dir) / '06_lesson.ipynb'} lesson.ipynb   # the 45-minute classroom lesson")
    return 0
