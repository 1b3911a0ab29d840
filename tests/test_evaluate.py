"""Evaluation: documents matched to ground truth by file and page range; per-type
accuracy, field precision/recall/F1 and CER."""

import json

import pytest

from pipeline.errors import BadInputError
from pipeline.evaluate import ALL, evaluate, find_truths, load_truth, report_dict
from pipeline.model import Document, Field, Page, SourceFile, Word


def _truth(tmp_path, name="a.png"):
    (tmp_path / name).write_bytes(b"not really a png")
    data = {
        "file": name,
        "media_type": "image/png",
        "pages": [{"lines": ["GIẤY KHAI SINH", "Họ và tên: AN"]}, {"lines": ["CĂN CƯỚC"]}],
        "documents": [
            {
                "doc_type": "birth_certificate",
                "first_page": 0,
                "last_page": 0,
                "fields": {"full_name": "NGUYỄN VĂN AN", "date_of_birth": "2019-03-04"},
            },
            {"doc_type": "cccd", "first_page": 1, "last_page": 1, "fields": {"id_number": "1"}},
        ],
    }
    path = tmp_path / name.replace(".png", ".json")
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def _page(index, lines):
    words = [Word(t, (0, 40 * i, 100, 40 * i + 30), 90, i) for i, t in enumerate(lines)]
    return Page(index=index, width=1000, height=1000, dpi=300, method="ocr", words=words)


def _field(name, value):
    return Field(name, value, value, 90, 0, None, "t", "1", True)


def _doc(first, last, doc_type, fields, pages):
    source = SourceFile("/x/a.png", 1, "image/png", "0" * 64)
    return Document(f"d{first}", source, first, last, doc_type, 1.0, pages, fields)


def test_scores_per_type(tmp_path):
    truths = [load_truth(_truth(tmp_path))]
    produced = {
        "a.png": [
            _doc(
                0,
                0,
                "birth_certificate",
                [_field("full_name", "NGUYỄN VĂN AN"), _field("date_of_birth", "2019-04-03")],
                [_page(0, ["GIẤY KHAI SINH", "Họ và tên: AN"])],
            ),
            _doc(1, 1, "unknown", [], [_page(1, ["CAN CUOC"])]),
        ]
    }
    scores = evaluate(truths, produced)
    birth, card, total = scores["birth_certificate"], scores["cccd"], scores[ALL]
    assert (birth.accuracy, card.accuracy, total.accuracy) == (1.0, 0.0, 0.5)
    # One right, one wrong value: the wrong one is a false positive and a false negative.
    assert (birth.true_positives, birth.false_positives, birth.false_negatives) == (1, 1, 1)
    assert birth.f1 == pytest.approx(0.5)
    assert birth.cer == 0.0
    assert card.cer == pytest.approx(3 / 8)  # "CĂN CƯỚC" -> "CAN CUOC": three edits
    assert card.recall == 0.0
    report = report_dict(scores)
    assert report["all"]["documents"] == 2 and report["errors"]


def test_a_wrong_split_misses_every_document(tmp_path):
    truths = [load_truth(_truth(tmp_path))]
    pages = [_page(0, ["GIẤY KHAI SINH"]), _page(1, ["CĂN CƯỚC"])]
    produced = {"a.png": [_doc(0, 1, "birth_certificate", [_field("full_name", "X")], pages)]}
    scores = evaluate(truths, produced)
    assert scores[ALL].accuracy == 0.0
    assert scores[ALL].true_positives == 0 and scores[ALL].false_positives == 1


def test_find_truths_needs_the_sample_beside_it(tmp_path):
    _truth(tmp_path)
    (tmp_path / "orphan.json").write_text(
        json.dumps({"file": "gone.png", "documents": []}), encoding="utf-8"
    )
    (tmp_path / "other.json").write_text("[1, 2]", encoding="utf-8")
    assert [t.file for t in find_truths(tmp_path)] == ["a.png"]


def test_malformed_truth_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"file": "x.png"}', encoding="utf-8")
    with pytest.raises(BadInputError, match="bad.json"):
        load_truth(bad)
