"""The documents against the code: the generated CLI reference, the benchmark reference page and
its journal, and every link and script path they name."""

import importlib.util
import re
from pathlib import Path

import pytest

import cli

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "docs" / "benchmarks.md"
JOURNAL = ROOT / "docs" / "journal"
#: The documents a user reads as current; the journal records commands as they were run.
CURRENT_DOCS = [
    ROOT / "README.md",
    ROOT / "data" / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
]
ALL_DOCS = [*CURRENT_DOCS, *sorted(JOURNAL.glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def test_cli_reference_is_up_to_date():
    spec = importlib.util.spec_from_file_location("gen", ROOT / "docs" / "gen_cli_reference.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert gen.OUT.read_text() == gen.render(cli.fgd), "run: python docs/gen_cli_reference.py"


def anchor(heading: str) -> str:
    """The fragment GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.lstrip("#").strip().lower()).replace(" ", "-")


def anchors(doc: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", doc.read_text(), flags=re.M | re.S)  # no code-block lines
    return {anchor(line) for line in text.splitlines() if line.startswith("#")}


def test_anchors_follow_github():
    assert anchor("## Training on several GPUs / machines") == "training-on-several-gpus--machines"
    assert (
        anchor("## GPU: `python -m benchmarks.gpu --out OUT`")
        == "gpu-python--m-benchmarksgpu---out-out"
    )


@pytest.mark.parametrize("doc", ALL_DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_reaches_its_file_and_heading(doc: Path):
    for target in LINK.findall(doc.read_text()):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, fragment = target.partition("#")
        linked = (doc.parent / path).resolve() if path else doc
        assert linked.exists(), f"{doc.name}: {target}: no such file"
        if fragment:
            assert fragment in anchors(linked), f"{doc.name}: {target}: no such heading"


def scripts_named(text: str) -> set[str]:
    """Repository paths of the scripts a text names: `benchmarks/X.py`, `tools/X.sh`, and the
    modules of `python -m benchmarks.X`."""
    paths = set(re.findall(r"(?<![\w./])((?:benchmarks|tools)/[\w/]+\.(?:py|sh))\b", text))
    for module in re.findall(r"python3? -m (benchmarks(?:\.\w+)+)", text):
        paths.add(module.replace(".", "/") + ".py")
    return paths


def test_every_script_the_documents_and_scripts_name_exists():
    named = {
        (source.relative_to(ROOT), path)
        for source in [*CURRENT_DOCS, *ROOT.glob("benchmarks/**/*.py"), *ROOT.glob("tools/*.sh")]
        for path in scripts_named(source.read_text())
        if not path.endswith("/NAME.py")  # the pattern `python -m benchmarks.NAME`
    }
    assert named, "the pattern finds nothing"
    assert {(str(source), path) for source, path in named if not (ROOT / path).exists()} == set()


def test_the_reference_page_is_a_summary_and_one_section_per_script():
    text = REFERENCE.read_text()
    assert len(text.splitlines()) <= 300, "the reference page: current figures only"
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings[0] == "## Summary"
    for script in sorted((ROOT / "benchmarks").glob("*.py")):
        if script.stem != "__init__":
            command = f"`python -m benchmarks.{script.stem}"
            assert any(command in h for h in headings), f"no section for {script.name}"
    summary = text.split("## Summary", 1)[1].split("\n## ", 1)[0]
    rows = [row for row in summary.splitlines() if row.startswith("| ")][2:]
    assert len(rows) >= 10
    for row in rows:  # every headline figure says when it was measured, or that it was not
        assert re.search(r"\b20\d\d-\d\d-\d\d\b", row) or "not measured yet" in row, row


def test_every_experiment_is_on_the_reference_page_and_in_the_journal():
    experiments = sorted(
        p.stem for p in (ROOT / "benchmarks" / "experiments").glob("*.py") if p.stem != "__init__"
    )
    assert experiments
    table = REFERENCE.read_text().split("## Experiments", 1)[1]
    index = (JOURNAL / "README.md").read_text()
    for name in experiments:
        assert f"| `{name}` |" in table, name
        assert f"benchmarks.experiments.{name}" in index, name


def test_the_journal_index_lists_every_file_once_by_date():
    files = sorted(p.name for p in JOURNAL.glob("*.md") if p.name != "README.md")
    assert files and all(re.fullmatch(r"20\d\d-\d\d-\d\d-[a-z0-9-]+\.md", f) for f in files)
    index = (JOURNAL / "README.md").read_text().splitlines()
    listed = [LINK.findall(line)[0] for line in index if line.startswith("- [")]
    assert listed == files  # one line per file, in date order
