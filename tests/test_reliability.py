"""A batch killed with SIGKILL in the middle and run again ends with a complete catalog:
no duplicates, no half-written document. Run through the installed `dossier` command."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import render_page

DOSSIER = Path(sys.executable).parent / "dossier"


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOSSIER_")}
    return env


def _documents_in(catalog: Path) -> int:
    if not catalog.exists():
        return 0
    try:
        with sqlite3.connect(catalog, timeout=5) as conn:
            return conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
    except sqlite3.OperationalError:
        return 0  # schema not created yet


@pytest.mark.slow
def test_kill_minus_9_mid_batch_then_rerun_completes_without_duplicates(tmp_path):
    folder = tmp_path / "scans"
    folder.mkdir()
    for number in range(8):
        lines = [
            "GIẤY KHAI SINH",
            f"Số: {100 + number}/2020",
            f"Họ, chữ đệm, tên: TRẦN VĂN {number}",
        ]
        render_page(lines).save(folder / f"scan-{number}.png")
    store = tmp_path / "store"
    catalog = store / "catalog.sqlite"
    command = [str(DOSSIER), "-q", "ingest", str(folder), "--store", str(store), "--jobs", "1"]

    process = subprocess.Popen(
        command, env=_environment(), start_new_session=True, stdout=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 240
    while _documents_in(catalog) < 2 and time.monotonic() < deadline:
        assert process.poll() is None, "the batch ended before it could be killed"
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    stored_before = _documents_in(catalog)
    assert 2 <= stored_before < 8, "the kill must land in the middle of the batch"

    rerun = subprocess.run(
        [*command, "--json"], env=_environment(), capture_output=True, text=True, timeout=600
    )
    assert rerun.returncode == 0, rerun.stderr
    rows = [json.loads(line) for line in rerun.stdout.splitlines()]
    statuses = [row["status"] for row in rows[:-1]]
    assert statuses.count("present") == stored_before
    assert statuses.count("new") == 8 - stored_before

    with sqlite3.connect(catalog) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        ids = [row[0] for row in conn.execute("SELECT id FROM documents")]
        shas = [row[0] for row in conn.execute("SELECT sha256 FROM documents")]
        fts = conn.execute("SELECT COUNT(*) FROM documents_fts").fetchone()[0]
        pages = conn.execute("SELECT COUNT(*) FROM pages").fetchone()[0]
    assert len(ids) == len(set(ids)) == 8
    assert len(set(shas)) == 8
    assert fts == 8 and pages == 8
    for doc_id in ids:
        folder_out = store / "documents" / doc_id
        for name in ("document.pdf", "text.txt", "document.json"):
            assert (folder_out / name).stat().st_size > 0
        json.loads((folder_out / "document.json").read_text(encoding="utf-8"))
    leftovers = [p for p in store.rglob("*.tmp")]
    assert leftovers == []
    assert not any((store / "work").iterdir()) if (store / "work").exists() else True
