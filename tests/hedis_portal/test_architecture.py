"""The layer order holds (import-linter's contracts) and the README's Architecture section draws it."""

import re
import tomllib
from pathlib import Path

from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def _architecture_section() -> str:
    readme = (ROOT / "README.md").read_text()
    return readme.split("## Architecture\n", 1)[1].split("\n## ", 1)[0]


def test_the_import_contracts_are_kept():
    assert lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True) == 0


def test_the_readme_names_every_contract():
    section = _architecture_section()
    assert {contract["id"] for contract in CONTRACTS} == set(
        re.findall(r"^- \*\*([\w-]+)\*\*", section, re.M)
    )


def test_the_readme_draws_the_layers_in_the_contracts_order():
    """Each line of the drawing starts with a layer's packages; top to bottom as in `domain-layers`,
    then the project package and the pure cores under everything."""
    drawing = _architecture_section().split("```")[1]
    starts = [line.split()[0].rstrip("/") for line in drawing.splitlines() if line and not line[0].isspace()]
    layers = next(contract for contract in CONTRACTS if contract["id"] == "domain-layers")["layers"]
    expected = [re.split(r" [|:] ", layer)[0] for layer in layers]
    expected += ["hedis_portal", "ratings.portfolio", "ratings.cms"]
    assert starts == expected
