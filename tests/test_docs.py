"""docs/cli.md is generated from the click commands and must match them."""

import importlib.util
from pathlib import Path

import cli

ROOT = Path(__file__).resolve().parents[1]


def test_cli_reference_is_up_to_date():
    spec = importlib.util.spec_from_file_location("gen", ROOT / "docs" / "gen_cli_reference.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert gen.OUT.read_text() == gen.render(cli.fgd), "run: python docs/gen_cli_reference.py"
