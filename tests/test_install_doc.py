"""docs/install.md's table of extras says what pyproject.toml's extras hold."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _table() -> dict[str, str]:
    """``{extra: its 'adds' cell}`` from the rows of the Extras table."""
    text = (ROOT / "docs" / "install.md").read_text()
    rows = re.findall(r"^\| `latentlab-sampling\[(\w+)\]` \| ([^|]+) \|", text, re.M)
    return {extra: adds.lower().replace("_", "-") for extra, adds in rows}


def test_install_table_names_every_extra_and_what_it_adds():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    table = _table()
    assert set(table) == set(extras), f"docs/install.md's extras table: add {sorted(set(extras) - set(table))}"
    for extra, reqs in extras.items():
        for req in reqs:
            if req.startswith("latentlab-sampling["):  # an extra of extras: each named in the row
                for inner in req.split("[", 1)[1].rstrip("]").split(","):
                    assert inner in table[extra], (extra, inner)
            else:
                assert _name(req) in table[extra], f"the {extra!r} row of docs/install.md does not name {req}"
