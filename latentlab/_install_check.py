"""Refuse to run beside the unrelated distribution that is also called ``latentlab``.

This project is distributed as ``latentlab-sampling`` (:data:`DISTRIBUTION`) and imports as
``latentlab``. On PyPI the name ``latentlab`` belongs to another project (LatentLab's MCP server,
0.2.0 when checked), whose wheel also installs a top-level ``latentlab`` package with its own
``latentlab/__init__.py``. pip does not stop two distributions writing the same files: whichever
was installed last owns ``latentlab/__init__.py``, and uninstalling either one deletes files the
other needs. So where that distribution's metadata is visible, this package stops with the fix
instead of running on a half-overwritten tree.

Detection reads distribution metadata only (:mod:`importlib.metadata`, no network, a few
milliseconds): a distribution named ``latentlab`` whose recorded files lie in a ``latentlab/``
folder and which is not an older install of this project itself (those declared the console
script ``latentlab = latentlab.cli:main``). Installed last, the other project's ``__init__.py``
replaces ours and nothing of ours runs on ``import latentlab``; the ``latentlab`` command and
``python -m latentlab`` still check first (``latentlab/__main__.py``).
"""

from __future__ import annotations

DISTRIBUTION = "latentlab-sampling"  # this project's distribution name (pyproject.toml [project] name)
FOREIGN = "latentlab"  # the unrelated distribution's name
_OUR_SCRIPTS = {"latentlab.cli:main", "latentlab.__main__:main"}  # our console script, old and new

__all__ = ["DISTRIBUTION", "FOREIGN", "ForeignLatentlabError", "foreign_distribution", "check_install"]


class ForeignLatentlabError(ImportError):
    """The unrelated ``latentlab`` distribution is installed in the same environment."""


def foreign_distribution():
    """The installed ``latentlab`` distribution if it is another project's, else None."""
    from importlib import metadata

    try:
        dist = metadata.distribution(FOREIGN)
    except metadata.PackageNotFoundError:
        return None
    scripts = {ep.value.replace(" ", "") for ep in dist.entry_points if ep.group == "console_scripts"}
    if scripts & _OUR_SCRIPTS:  # this project installed under its old distribution name
        return None
    if not any(f.parts[:1] == ("latentlab",) for f in dist.files or ()):
        return None  # it installs no latentlab/ package: no files shared with ours
    return dist


def message(dist) -> str:
    """The explanation and the fix, naming where the other distribution is installed."""
    where = dist.locate_file("")
    summary = (dist.metadata.get("Summary") or "").strip()
    return (
        f"the distribution '{FOREIGN}' {dist.version} ({summary or 'an unrelated project'}) is installed in "
        f"{where}. It is not this project ({DISTRIBUTION}, imported as 'latentlab'): both install a "
        "top-level 'latentlab' package, so one overwrites the other's files. Fix: "
        f"pip uninstall -y {FOREIGN} {DISTRIBUTION} && pip install {DISTRIBUTION} "
        f"(reinstall, since uninstalling '{FOREIGN}' deletes shared files), and keep '{FOREIGN}' "
        "in another environment. See docs/install.md."
    )


def check_install() -> None:
    """Raise :class:`ForeignLatentlabError` if the unrelated ``latentlab`` distribution is installed."""
    dist = foreign_distribution()
    if dist is not None:
        raise ForeignLatentlabError(message(dist))
