"""Ingest through the CLI into a real Elasticsearch server, including the server going
away in the middle of a batch: nothing read is lost, and the next run completes the
catalog without reading the files again and without duplicates."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.errors import ExitCode
from tests.conftest import REPO, render_page
from tests.test_elasticsearch import _prefix, es_chaos_url, es_url  # noqa: F401 (fixtures)

DOSSIER = Path(sys.executable).parent / "dossier"
pytestmark = [pytest.mark.elasticsearch, pytest.mark.slow]


def _run(store: Path, url: str, prefix: str, *args: str, **kwargs) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOSSIER_")}
    env.update(DOSSIER_INDEX="elasticsearch", DOSSIER_ES_URL=url, DOSSIER_ES_INDEX_PREFIX=prefix)
    return subprocess.Popen(
        [str(DOSSIER), "-q", *args, "--store", str(store)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def _scans(folder: Path, count: int) -> Path:
    folder.mkdir()
    for number in range(count):
        lines = ["GIẤY KHAI SINH", f"Số: {200 + number}/2021", f"Họ, chữ đệm, tên: ĐỖ VĂN {number}"]
        render_page(lines).save(folder / f"scan-{number}.png")
    return folder


def test_search_and_reuse_through_elasticsearch(tmp_path, es_url):  # noqa: F811
    prefix = _prefix()
    scans = _scans(tmp_path / "scans", 2)
    store = tmp_path / "store"
    first = _run(store, es_url, prefix, "ingest", str(scans), "--json")
    out, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    again = _run(store, es_url, prefix, "ingest", str(scans), "--json")
    out, err = again.communicate(timeout=600)
    statuses = [json.loads(line)["status"] for line in out.splitlines()[:-1]]
    assert statuses == ["present", "present"]
    found = _run(store, es_url, prefix, "search", "do van", "--json")
    out, err = found.communicate(timeout=120)
    assert json.loads(out)["total"] == 2, err


def test_server_stopped_mid_batch_then_rerun_completes(tmp_path, es_chaos_url):  # noqa: F811
    """GIVEN a 4-page scan being read into Elasticsearch WHEN the server stops while its
    pages are read THEN the run ends with 'backend unavailable' and keeps the documents it
    read; WHEN the server is back and the batch runs again THEN the kept documents are
    sent without reading the file again, and every file is on file once."""
    script = str(REPO / "tests/es_server.sh")
    prefix = _prefix()
    scans = _scans(tmp_path / "scans", 1)
    pages = [render_page(["Trang", f"Số thứ tự {n}"]) for n in range(3)]
    stack = scans / "stack.tif"
    render_page(["GIẤY KHAI SINH", "Số: 300/2021", "Họ, chữ đệm, tên: VŨ THỊ LAN"]).save(
        stack, save_all=True, append_images=pages
    )
    store = tmp_path / "store"
    run = _run(store, es_chaos_url, prefix, "ingest", str(scans), "--jobs", "1", "--json",
               start_new_session=True)  # fmt: skip
    # Stop the server once the 4-page file's first page has been read.
    deadline = time.monotonic() + 600
    while not list((store / "work").glob("*/page-00001.pdf")):
        assert run.poll() is None and time.monotonic() < deadline, run.stderr.read()
        time.sleep(0.05)
    subprocess.run([script, "stop", "chaos"], check=True)
    try:
        out, err = run.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        os.killpg(run.pid, signal.SIGKILL)
        raise
    assert run.returncode == ExitCode.backend_unavailable, err
    assert "sent on the next run" in err
    assert len(list((store / "pending").glob("*.json"))) == 1

    subprocess.run([script, "start", "chaos"], check=True)
    rerun = _run(store, es_chaos_url, prefix, "ingest", str(scans), "--jobs", "1", "--json")
    out, err = rerun.communicate(timeout=900)
    assert rerun.returncode == 0, err
    rows = {Path(r["source"]).name: r for r in map(json.loads, out.splitlines()[:-1])}
    assert rows["stack.tif"]["status"] == "present", "sent from the store, not read again"
    assert not list((store / "pending").glob("*.json"))
    stats = _run(store, es_chaos_url, prefix, "stats", "--json")
    out, _ = stats.communicate(timeout=120)
    data = json.loads(out)
    assert data["files"] == 2 and data["pages"] == 5
