"""End to end: the committed multi-document samples (batch scans, a mixed PDF) are split
into the documents of their ground truth, each with its page range and type."""

import json
from pathlib import Path

import pytest

from tests.conftest import json_lines

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
MULTI = sorted(
    path
    for path in SAMPLES.glob("*.json")
    if len(json.loads(path.read_text(encoding="utf-8")).get("documents", [])) > 1
)


def test_the_samples_hold_multi_document_files():
    names = {path.stem for path in MULTI}
    assert {"dossier_batch_01", "dossier_batch_02", "mixed_01"} <= names


@pytest.mark.slow
@pytest.mark.parametrize("truth_path", MULTI, ids=lambda p: p.stem)
def test_batch_scan_is_split_as_the_ground_truth_says(cli, truth_path):
    """GIVEN a sample that holds several documents (a clerk's batch scan)
    WHEN it is ingested through the CLI
    THEN each document of the ground truth is stored on its own, with its page range in
    the source file and its type, and there is no other document."""
    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    result = cli("ingest", str(SAMPLES / truth["file"]), "--jobs", "2", "--json")
    assert result.exit_code == 0, result.output
    records = [r for r in json_lines(result.output) if "id" in r]
    found = []
    for record in records:
        shown = cli("show", record["id"], "--json")
        assert shown.exit_code == 0, shown.output
        doc = json.loads(shown.output)
        found.append((doc["first_page"], doc["last_page"], doc["doc_type"]))
    wanted = [(d["first_page"], d["last_page"], d["doc_type"]) for d in truth["documents"]]
    assert sorted(found) == wanted
