"""CI's evaluation step: `dossier eval samples/` must reach the extraction goal (issue 3):
document-type accuracy >= 98 % and field F1 >= 0.95 on the committed samples."""

import json
from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
MIN_ACCURACY = 0.98
MIN_F1 = 0.95


@pytest.mark.slow
def test_eval_on_the_samples_reaches_the_goal(cli):
    """GIVEN the committed samples and their ground truth
    WHEN `dossier eval samples --min-f1 0.95 --json` runs (real cleanup, Tesseract,
    extraction, into a temporary store)
    THEN it exits 0 and reports accuracy >= 0.98 and F1 >= 0.95 over all documents."""
    result = cli("eval", str(SAMPLES), "--jobs", "2", "--json", "--min-f1", str(MIN_F1))
    report = json.loads(result.output[result.output.index("{") :])
    overall = report["all"]
    errors = "\n".join(report["errors"])
    assert result.exit_code == 0, errors
    assert overall["documents"] >= 20
    assert overall["accuracy"] >= MIN_ACCURACY, errors
    assert overall["f1"] >= MIN_F1, errors
