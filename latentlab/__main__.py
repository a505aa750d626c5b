"""``python -m latentlab`` and the ``latentlab`` command (its console-script entry point).

Both check for the unrelated ``latentlab`` distribution first (latentlab/_install_check.py): if it
was installed after this one, its ``latentlab/__init__.py`` replaced ours and this check is the
only part of latentlab that still runs before the command.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Run the command line (:func:`latentlab.cli.main`); exit status 2 beside the unrelated ``latentlab``."""
    from ._install_check import ForeignLatentlabError, check_install

    try:
        check_install()
        from .cli import main as cli_main
    except ForeignLatentlabError as e:
        print(f"latentlab: error: {e}", file=sys.stderr)
        return 2
    return cli_main(argv)


if __name__ == "__main__":  # runpy runs this module as __main__; an import of it runs nothing
    sys.exit(main())
