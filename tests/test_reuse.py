"""Reuse end to end through the CLI, on a real catalog: exact reuse across dossiers,
identity links (and attempts to fool them), the tamper-evident log, procedures, what a
citizen has on file, the report, `dossier bench` and bad input."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import cv2
import pytest

from pipeline.errors import ExitCode
from tests.conftest import json_lines, write_text_pdf
from tests.reuse_fixtures import impostors, paper, render, rescan

CITIZEN = "001090012345"  # invented: Hà Nội (001), male born 1990 (0, 90)
OTHER = "079195054321"  # invented: TP. Hồ Chí Minh (079), female born 1995


def birth_certificate(number: str, person_id: str, name: str, extra: str = "") -> list[str]:
    lines = [
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "GIẤY KHAI SINH",
        f"Số: {number}",
        f"Họ, chữ đệm, tên: {name}",
        "Ngày, tháng, năm sinh: 12/05/1990",
        "Giới tính: Nam",
        "Dân tộc: Kinh",
        "Quốc tịch: Việt Nam",
        f"Số định danh cá nhân: {person_id}",
        "Nơi đăng ký: Ủy ban nhân dân phường Láng Hạ, quận Đống Đa, Hà Nội",
        "Ngày, tháng, năm đăng ký: 20/05/1990",
    ]
    return [*lines, extra] if extra else lines


def cccd(person_id: str, name: str, expiry: str) -> list[str]:
    return [
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "CĂN CƯỚC CÔNG DÂN",
        "Citizen Identity Card",
        f"Số / No.: {person_id}",
        f"Họ và tên / Full name: {name}",
        "Ngày sinh / Date of birth: 12/05/1990",
        "Giới tính / Sex: Nam",
        "Quốc tịch / Nationality: Việt Nam",
        f"Có giá trị đến / Date of expiry: {expiry}",
    ]


def ingest(cli, *paths: Path, args: tuple[str, ...] = ()) -> tuple[list[dict], dict]:
    result = cli("ingest", *map(str, paths), "--json", "--jobs", "2", *args)
    assert result.exit_code in (0, 1), result.output
    rows = json_lines(result.stdout)
    return rows[:-1], rows[-1]["summary"]


def dossier_args(procedure: str = "BSKS", citizen: str = CITIZEN) -> tuple[str, ...]:
    return ("--procedure", procedure, "--citizen-id", citizen)


def test_same_file_in_another_dossier_is_an_exact_reuse(cli, tmp_path):
    """GIVEN a birth certificate on file from one dossier
    WHEN the same file arrives again with no dossier, then for another procedure
    THEN the first rerun is 'present' (not a reuse); in the other dossier it is 'reused'
    (exact, of the stored id), logged, and a rerun of that dossier is 'present'."""
    paper = write_text_pdf(
        tmp_path / "ks.pdf", [birth_certificate("12/1990", CITIZEN, "LÊ VĂN HÙNG")]
    )
    (first,), _ = ingest(cli, paper, args=dossier_args("BSKS"))
    assert first["status"] == "new"
    (again,), _ = ingest(cli, paper)
    assert again["status"] == "present" and again["reuse"] is None
    (other,), summary = ingest(cli, paper, args=dossier_args("DKTT"))
    assert other["status"] == "reused"
    assert other["reuse"]["kind"] == "exact" and other["reuse"]["of"] == first["id"]
    assert summary["reused"] == 1
    (rerun,), _ = ingest(cli, paper, args=dossier_args("DKTT"))
    assert rerun["status"] == "present"
    assert json_lines(cli("verify-log", "--json").stdout)[0]["checked"] == 1


def test_identity_reuse_links_a_new_copy_and_cannot_be_fooled(cli, tmp_path):
    """GIVEN a birth certificate on file
    WHEN another copy of the same certificate (other bytes) is ingested THEN it is linked
    to the stored one (identity); WHEN the same person's certificate with another number,
    or another person's with the same number, is ingested THEN nothing is reused."""
    name = "LÊ VĂN HÙNG"
    original = write_text_pdf(tmp_path / "a.pdf", [birth_certificate("12/1990", CITIZEN, name)])
    copy = write_text_pdf(
        tmp_path / "b.pdf", [birth_certificate("12/1990", CITIZEN, name, extra="BẢN SAO")]
    )
    other_number = write_text_pdf(tmp_path / "c.pdf", [birth_certificate("13/1990", CITIZEN, name)])
    other_person = write_text_pdf(
        tmp_path / "d.pdf", [birth_certificate("12/1990", OTHER, "TRẦN THỊ MAI")]
    )
    (stored,), _ = ingest(cli, original)
    shown = json_lines(cli("show", stored["id"], "--json").stdout)[0]
    values = {f["name"]: f["value"] for f in shown["fields"] if f["valid"]}
    assert values["id_number"] == CITIZEN and values["doc_number"] == "12/1990"

    (linked,), _ = ingest(cli, copy)
    assert linked["status"] == "reused"
    assert linked["reuse"]["kind"] == "identity" and linked["reuse"]["of"] == stored["id"]
    for impostor in (other_number, other_person):
        (row,), _ = ingest(cli, impostor)
        assert row["status"] == "new" and row["reuse"] is None, impostor.name


def test_an_expired_card_is_not_reused_and_a_newer_one_supersedes(cli, tmp_path):
    expired = write_text_pdf(tmp_path / "old.pdf", [cccd(CITIZEN, "LÊ VĂN HÙNG", "12/05/2015")])
    (row,), _ = ingest(cli, expired)
    copy = write_text_pdf(
        tmp_path / "old2.pdf", [[*cccd(CITIZEN, "LÊ VĂN HÙNG", "12/05/2015"), "BẢN SAO"]]
    )
    (again,), _ = ingest(cli, copy)
    assert again["reuse"] is None, "an expired card is no evidence"

    valid = write_text_pdf(tmp_path / "new.pdf", [cccd(CITIZEN, "LÊ VĂN HÙNG", "12/05/2040")])
    ingest(cli, valid)
    on_file = json_lines(cli("reuse", "--citizen-id", CITIZEN, "--json").stdout)[0]
    listed = [d for d in on_file["documents"] if d["doc_type"] == "cccd"]
    assert len(listed) == 1, "only the valid card is on file"
    assert {d["id"] for d in on_file["set_aside"]} >= {row["id"]}


def test_reuse_says_what_a_procedure_still_needs(cli, tmp_path):
    paper = write_text_pdf(
        tmp_path / "ks.pdf", [birth_certificate("12/1990", CITIZEN, "LÊ VĂN HÙNG")]
    )
    ingest(cli, paper, args=dossier_args("BSKS"))
    result = cli("reuse", "--citizen-id", CITIZEN, "--procedure", "BSKS", "--json")
    assert result.exit_code == 0
    data = json_lines(result.stdout)[0]
    assert "birth_certificate" in data["on_file"]
    assert set(data["missing"]) == {"application_form", "cccd"}
    human = cli("reuse", "--citizen-id", CITIZEN, "--procedure", "BSKS")
    assert "MUST BRING" in human.stdout
    assert CITIZEN not in human.stdout, "the full ID number is not echoed"


def test_procedures_catalogue(cli):
    data = json.loads(cli("procedures", "--json").stdout)
    codes = {p["code"] for p in data}
    assert {"DKTT", "DKKH", "BSKS", "GCNLD", "XNCT"} <= codes
    assert all(p["requires"] for p in data)


@pytest.mark.parametrize(
    ("args", "code", "phrase"),
    [
        (("--procedure", "BSKS", "--citizen-id", "12345"), ExitCode.bad_input, "12 digits"),
        (("--procedure", "BSKS", "--citizen-id", "999090012345"), ExitCode.bad_input, "province"),
        (("--procedure", "NOPE", "--citizen-id", CITIZEN), ExitCode.not_found, "Unknown procedure"),
    ],
)
def test_bad_dossier_input_is_refused_before_anything_is_written(
    cli, store, tmp_path, page_image, args, code, phrase
):
    page_image.save(tmp_path / "a.png")
    result = cli("ingest", str(tmp_path / "a.png"), *args)
    assert result.exit_code == code
    assert phrase in result.stderr
    assert not (store / "catalog.sqlite").exists()


def test_tampering_with_the_reuse_log_is_caught(cli, store, tmp_path):
    """GIVEN three reuse decisions in the log WHEN an entry is edited, or removed, behind
    the tool's back THEN verify-log names the first entry altered or removed."""
    paper = write_text_pdf(
        tmp_path / "ks.pdf", [birth_certificate("12/1990", CITIZEN, "LÊ VĂN HÙNG")]
    )
    ingest(cli, paper, args=dossier_args("BSKS"))
    for code in ("DKTT", "DKKH", "XNCT"):
        ingest(cli, paper, args=dossier_args(code))
    assert cli("verify-log").exit_code == 0
    catalog = store / "catalog.sqlite"

    with sqlite3.connect(catalog) as conn:
        conn.execute("UPDATE reuse_log SET procedure = 'BSKS' WHERE seq = 2")
    result = cli("verify-log", "--json")
    assert result.exit_code == ExitCode.check_failed
    assert json_lines(result.stdout)[0]["first_bad_seq"] == 2
    assert "entry 2 was altered" in result.stderr

    with sqlite3.connect(catalog) as conn:
        conn.execute("UPDATE reuse_log SET procedure = 'DKKH' WHERE seq = 2")
    assert cli("verify-log").exit_code == 0, "restoring the value restores the chain"

    with sqlite3.connect(catalog) as conn:
        conn.execute("DELETE FROM reuse_log WHERE seq = 1")
    result = cli("verify-log")
    assert result.exit_code == ExitCode.check_failed and "entry 1 was removed" in result.stderr


def test_removing_the_last_log_entry_is_caught(cli, store, tmp_path):
    paper = write_text_pdf(
        tmp_path / "ks.pdf", [birth_certificate("12/1990", CITIZEN, "LÊ VĂN HÙNG")]
    )
    ingest(cli, paper, args=dossier_args("BSKS"))
    for code in ("DKTT", "DKKH"):
        ingest(cli, paper, args=dossier_args(code))
    with sqlite3.connect(store / "catalog.sqlite") as conn:
        conn.execute("DELETE FROM reuse_log WHERE seq = 2")
    result = cli("verify-log")
    assert result.exit_code == ExitCode.check_failed
    assert "removed from the end" in result.stderr


def test_report_counts_reuse_and_baselines_from_measured_times(cli, tmp_path):
    paper = write_text_pdf(
        tmp_path / "ks.pdf", [birth_certificate("12/1990", CITIZEN, "LÊ VĂN HÙNG")]
    )
    (fresh,), _ = ingest(cli, paper, args=dossier_args("BSKS"))
    (reused,), _ = ingest(cli, paper, args=dossier_args("DKTT"))
    chart = tmp_path / "chart.png"
    result = cli("report", "--by", "procedure", "--json", "--chart", str(chart))
    assert result.exit_code == 0
    data = json_lines(result.stdout)[0]
    rows = {row["group"]: row for row in data["rows"]}
    assert rows["BSKS"]["fresh"] == 1 and rows["DKTT"]["exact"] == 1
    # The reused document's baseline is the measured fresh time of the one it reused.
    assert rows["DKTT"]["baseline_seconds"] == pytest.approx(fresh["seconds"], abs=0.01)
    assert rows["DKTT"]["measured_seconds"] == pytest.approx(reused["seconds"], abs=0.01)
    assert data["total"]["not_resubmitted"] == 1
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = tmp_path / "chart.html"
    assert cli("report", "--chart", str(html)).exit_code == 0
    assert "<img" in html.read_text(encoding="utf-8")


def test_report_with_no_data_and_bad_dates(cli):
    empty = cli("report", "--since", "2001-01-01", "--until", "2001-12-31")
    assert empty.exit_code == 0 and "No documents were processed" in empty.stderr
    bad = cli("report", "--since", "yesterday")
    assert bad.exit_code == ExitCode.usage and "yesterday" in bad.output


@pytest.mark.slow
def test_bench_measures_reuse_in_a_temporary_store(cli, store, tmp_path):
    """GIVEN a folder with one ID card and a folder of "re-scans": a light re-scan of it
    and a card differing in one ID digit named as the re-scan of a file that is not there
    WHEN `dossier bench --repeat 2` runs THEN each run counts one fresh, one exact and one
    near document, the impostor is not reused (recall 1 of 2, no false reuse), the
    figures of both runs are given, and the user's own store is not touched."""
    spec = paper("cccd", 3)
    papers, rescans = tmp_path / "papers", tmp_path / "rescans"
    papers.mkdir()
    rescans.mkdir()
    cv2.imwrite(str(papers / "card.png"), rescan(render(spec), "clean", 3))
    cv2.imwrite(str(rescans / "card_rescan1.png"), rescan(render(spec), "light", 3))
    digit = impostors(spec, 3)["id_last_digit"]
    cv2.imwrite(str(rescans / "other_rescan1.png"), rescan(render(digit), "clean", 3))

    args = ("bench", str(papers), "--rescans", str(rescans), "--jobs", "1", "--repeat", "2")
    result = cli(*args, "--json")
    assert result.exit_code == 0, result.output
    out = json_lines(result.output)[0]
    assert (out["fresh"]["documents"], out["exact"]["documents"]) == (1, 1)
    assert out["near"]["documents"] == 1
    assert (out["rescans"], out["rescan_recall"], out["false_reuses"]) == (2, 0.5, 0)
    assert out["repeat"] == 2 and len(out["runs"]) == 2
    assert all(run["near_speedup"] and run["exact_speedup"] for run in out["runs"])
    assert not store.exists()

    text = cli("bench", str(papers), "--jobs", "1").output
    assert "resubmission (exact)" in text and "runs" not in text
    assert cli("bench", str(papers), "--repeat", "0").exit_code == 2
