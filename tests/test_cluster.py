"""Page work on a real Dask cluster on 127.0.0.1: a scheduler and worker processes
started here (random free ports), a batch ingested through them and compared with a
local run, a worker SIGKILLed mid-batch, the scheduler lost mid-batch and unreachable.

Every process is started in its own session and its whole group is killed in teardown,
even when a test fails.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pdfplumber
import pytest
from PIL import Image

from indexer.sqlite import SqliteIndex
from pipeline.config import Config
from pipeline.intake import identify
from pipeline.pages import PageOutcome, PageTask, process_page
from tests.conftest import BIRTH_LINES, REPO, render_page, write_image_pdf, write_text_pdf

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

DECISION_LINES = [
    "ỦY BAN NHÂN DÂN QUẬN HOÀN KIẾM",
    "QUYẾT ĐỊNH",
    "Số: 245/QĐ-UBND",
    "Về việc cấp giấy phép xây dựng",
    "Điều 1. Cấp phép cho ông PHẠM MINH TUẤN",
]


# -- the batch and the local run everything is compared with ---------------------------


def page(title: str, name: str, number: int) -> Image.Image:
    """A distinct page (no two pages of the batch are re-scans of one another)."""
    return render_page(
        [
            "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
            title,
            f"Số: {number}/2024",
            f"Họ, chữ đệm, tên: {name}",
            f"Ngày, tháng, năm sinh: {number % 28 + 1:02d}/0{number % 9 + 1}/19{number % 90 + 10}",
            f"Nơi cư trú: Số {number} phố Hàng Bạc, Hà Nội",
        ]
    )


def make_batch(folder: Path) -> Path:
    """Scanned and born-digital PDFs, a PNG, a JPEG and a multi-page TIFF of mixed modes:
    every way a page travels to a worker (one-page PDF, whole file, one TIFF frame)."""
    folder.mkdir(parents=True, exist_ok=True)
    write_text_pdf(folder / "digital.pdf", [BIRTH_LINES, DECISION_LINES])
    write_image_pdf(
        folder / "scan-a.pdf",
        [
            page("GIẤY KHAI SINH", "NGUYỄN VĂN AN", 11),
            page("GIẤY XÁC NHẬN THÔNG TIN VỀ CƯ TRÚ", "LÊ THỊ HỒNG NHUNG", 23),
            page("ĐƠN ĐỀ NGHỊ", "PHẠM MINH TUẤN", 37),
        ],
    )
    write_image_pdf(folder / "scan-b.pdf", [page("QUYẾT ĐỊNH", "TRẦN THỊ BÌNH", 41)])
    page("GIẤY CHỨNG NHẬN KẾT HÔN", "ĐỖ VĂN HÙNG", 53).save(folder / "marriage.png", dpi=(200, 200))
    page("GIẤY KHAI SINH", "VŨ THỊ MAI", 67).convert("RGB").save(
        folder / "birth.jpg", quality=90, dpi=(200, 200)
    )
    gray = page("GIẤY XÁC NHẬN THÔNG TIN VỀ CƯ TRÚ", "HOÀNG VĂN NAM", 79)
    bilevel = page("ĐƠN ĐỀ NGHỊ", "BÙI THỊ LAN", 83).point(lambda v: 255 if v > 128 else 0)
    gray.save(
        folder / "bundle.tif",
        save_all=True,
        append_images=[bilevel.convert("1")],
        dpi=(200, 200),
        compression="tiff_lzw",
    )
    return folder


def catalog(store: Path) -> dict[str, dict]:
    """What must be identical between runs: per document id, type, text, fields, and
    every page (words with boxes and confidences, hash, cleanup), timings aside."""
    index = SqliteIndex(store / "catalog.sqlite")
    try:
        assert not index.failures(), index.failures()
        documents = {}
        for doc in index.iter_documents():
            assert doc.id not in documents, f"{doc.id} stored twice"
            documents[doc.id] = {
                "doc_type": doc.doc_type,
                "text": doc.text,
                "fields": [dataclasses.asdict(f) for f in doc.fields],
                "pages": [{**dataclasses.asdict(p), "timings": None} for p in doc.pages],
                "pdf_text": _pdf_text(Path(doc.outputs["pdf"])),
            }
        assert index.count_documents() == len(documents)
        return documents
    finally:
        index.close()


def _pdf_text(path: Path) -> list[str]:
    with pdfplumber.open(path) as pdf:
        return [page.extract_text() or "" for page in pdf.pages]


def _environment() -> dict[str, str]:
    """The repository importable in every child (workers unpickle pipeline.* by name)."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    environment = {**os.environ, "PYTHONPATH": path}
    for name in ("DOSSIER_STORE", "DOSSIER_CLUSTER", "DOSSIER_JOBS", "DOSSIER_INDEX"):
        environment.pop(name, None)
    return environment


def dossier(*args: str, **options) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        cwd=REPO,
        env=_environment(),
        capture_output=True,
        text=True,
        **options,
    )


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_batch(tmp_path_factory.mktemp("batch"))


@pytest.fixture(scope="module")
def local(batch: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    store = tmp_path_factory.mktemp("local") / "store"
    run = dossier("ingest", str(batch), "--store", str(store), "--jobs", "2", "--json")
    assert run.returncode == 0, run.stderr
    documents = catalog(store)
    assert len(documents) >= 7
    return documents


# -- real processes --------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Processes:
    """A scheduler and workers started here; close() kills every process group."""

    def __init__(self, logs: Path):
        self.logs = logs
        self.started: list[subprocess.Popen] = []
        self.address = ""

    def _start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = (self.logs / f"{name}.log").open("ab")
        process = subprocess.Popen(
            argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self.started.append(process)
        return process

    def scheduler(self, **config: str) -> subprocess.Popen:
        """`dask scheduler` on a free port; `config` as DASK_* variables."""
        port = free_port()
        self.address = f"tcp://127.0.0.1:{port}"
        argv = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
        argv += ["--host", "127.0.0.1", "--port", str(port), "--no-dashboard"]
        return self._start("scheduler", argv, {**_environment(), **config})

    def worker(self, name: str) -> subprocess.Popen:
        """`dossier worker` (one worker process, one thread); it gives up by itself when
        its scheduler has been gone for a minute."""
        argv = [sys.executable, "-m", "cli", "worker", "--scheduler", self.address]
        argv += ["--nworkers", "1", "--", "--no-dashboard", "--name", name]
        argv += ["--death-timeout", "60"]
        return self._start(name, argv, _environment())

    def wait_for_workers(self, count: int, timeout: float = 120) -> dict[str, int]:
        """Worker address -> pid, once `count` workers have joined."""
        from distributed import Client

        with Client(self.address, timeout=30, set_as_default=False) as client:
            client.wait_for_workers(count, timeout=timeout)
            return client.run(os.getpid)

    def kill(self, process: subprocess.Popen) -> None:
        kill_group(process.pid)
        process.wait(timeout=30)

    def close(self) -> None:
        for process in self.started:
            if process.poll() is None:
                kill_group(process.pid)
        for process in self.started:
            process.wait(timeout=30)


def kill_group(pgid: int) -> None:
    assert pgid != os.getpgrp(), "never signal the test's own process group"
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.killpg(pgid, signal.SIGKILL)


@pytest.fixture
def processes(tmp_path: Path):
    started = Processes(tmp_path)
    try:
        yield started
    finally:
        started.close()


def cluster_of(processes: Processes, workers: int = 2) -> dict[str, int]:
    processes.scheduler()
    for number in range(workers):
        processes.worker(f"w{number + 1}")
    return processes.wait_for_workers(workers)


class Ingest:
    """`dossier ingest --cluster --json` in the background, its JSON lines as they come."""

    def __init__(self, batch: Path, store: Path, address: str):
        argv = [sys.executable, "-m", "cli", "ingest", str(batch), "--store", str(store)]
        argv += ["--cluster", address, "--json"]
        self.process = subprocess.Popen(
            argv,
            cwd=REPO,
            env=_environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def first_document(self, timeout: float = 180) -> str:
        return self.lines.get(timeout=timeout)

    def finish(self, timeout: float = 300) -> tuple[int, str]:
        try:
            self.process.wait(timeout=timeout)
        finally:
            if self.process.poll() is None:
                kill_group(self.process.pid)
        assert self.process.stderr is not None
        return self.process.returncode, self.process.stderr.read()


# -- the page alone, as bytes -------------------------------------------------------------


def test_a_page_read_from_its_own_bytes_equals_the_page_read_from_the_file(
    batch: Path, tmp_path: Path
):
    """GIVEN every kind of page in the batch (text-layer and scanned PDF pages, a PNG, a
    JPEG, TIFF frames in gray and bilevel)
    WHEN a page is read from the file (local worker) and from the bytes a cluster worker
    receives (PageSplitter)
    THEN the pages are identical, and so is the text of the PDF part written here."""
    from pipeline.cluster import PageSplitter
    from pipeline.pages import count_pages, save_part

    cfg = Config(store=tmp_path / "store", jobs=1)
    splitter = PageSplitter()
    picks = {"digital.pdf": [1], "scan-a.pdf": [2], "marriage.png": [0], "bundle.tif": [0, 1]}
    for name, indexes in picks.items():
        source = identify(batch / name)
        assert count_pages(source, cfg) > max(indexes)
        for index in indexes:
            local_dir, remote_dir = tmp_path / f"l-{name}-{index}", tmp_path / f"r-{name}-{index}"
            local_dir.mkdir()
            remote_dir.mkdir()
            here = process_page(PageTask(source, index, str(local_dir)), cfg)
            data = splitter.page_bytes(PageTask(source, index, str(remote_dir)), cfg.max_pixels)
            there = process_page(PageTask(source, index, str(remote_dir), data), cfg)
            assert here.error is None and there.error is None, (here.error, there.error)
            assert not list(remote_dir.iterdir()), "a cluster worker writes nothing locally"
            if here.pdf_part is None:  # text layer: the source page is copied as it is
                assert there.pdf_data is None
            else:
                there = save_part(there, str(remote_dir))
                # (byte for byte they differ: Tesseract stamps each PDF with its time)
                assert _pdf_text(Path(there.pdf_part)) == _pdf_text(Path(here.pdf_part))
            assert dataclasses.replace(there.page, timings={}) == dataclasses.replace(
                here.page, timings={}
            ), f"{name} page {index + 1}"
    splitter.close()


def test_a_multi_frame_tiff_sends_one_frame_with_its_mode_and_resolution(tmp_path: Path):
    from pipeline.cluster import PageSplitter

    frames = [Image.new("L", (64, 48), 200), Image.new("RGB", (64, 48), (10, 20, 30))]
    path = tmp_path / "two.tif"
    frames[0].save(path, save_all=True, append_images=frames[1:], dpi=(300, 300))
    source = identify(path)
    data = PageSplitter().page_bytes(PageTask(source, 1, str(tmp_path)), 10**8)
    with Image.open(io.BytesIO(data)) as frame:
        assert getattr(frame, "n_frames", 1) == 1
        assert frame.mode == "RGB" and frame.getpixel((5, 5)) == (10, 20, 30)
        assert round(frame.info["dpi"][0]) == 300


# -- a real cluster ---------------------------------------------------------------------


def test_a_batch_through_two_workers_gives_the_catalog_of_a_local_run(
    batch: Path, local: dict, processes: Processes, tmp_path: Path
):
    """GIVEN a scheduler and two `dossier worker` processes on 127.0.0.1
    WHEN the batch is ingested with --cluster
    THEN the catalog equals a local run's: same ids, text, fields, pages, PDF text, and
    the page work was done by both workers (not in the submitting process)."""
    workers = cluster_of(processes, 2)
    store = tmp_path / "store"
    run = dossier("ingest", str(batch), "--store", str(store), "--cluster", processes.address)
    assert run.returncode == 0, run.stderr
    assert catalog(store) == local
    index = SqliteIndex(store / "catalog.sqlite")
    try:
        used = {t.worker.split(":")[-1] for d in index.iter_documents() for t in d.timings}
    finally:
        index.close()
    assert {str(pid) for pid in workers.values()} <= used


def _worker_settings() -> dict:
    """Run on a worker: what decides how much of a core it takes besides its pages."""
    import cv2
    import dask

    return {
        "opencv_threads": cv2.getNumThreads(),
        "omp_thread_limit": os.environ.get("OMP_THREAD_LIMIT"),
        "profiler": dask.config.get("distributed.worker.profile.enabled"),
        "tick": dask.config.get("distributed.admin.tick.interval"),
    }


def test_a_dossier_worker_takes_one_core_and_keeps_dask_housekeeping_rare(
    processes: Processes,
):
    """GIVEN a `dossier worker` process joined to a scheduler
    WHEN it is asked how it runs
    THEN OpenCV and Tesseract use one thread each, and Dask's statistical profiler is off
    and its event-loop tick rare (together 11% of a core on an idle 2-core machine)."""
    from distributed import Client

    cluster_of(processes, 1)
    with Client(processes.address, timeout=30, set_as_default=False) as client:
        (settings,) = client.run(_worker_settings).values()
    assert settings == {
        "opencv_threads": 1,
        "omp_thread_limit": "1",
        "profiler": False,
        "tick": "1s",
    }


def test_a_worker_killed_mid_batch_loses_nothing_and_duplicates_nothing(
    batch: Path, local: dict, processes: Processes, tmp_path: Path
):
    """GIVEN a batch running on two workers
    WHEN one worker (its whole process group) is SIGKILLed while it reads a page
    THEN the batch completes on the other worker, exit code 0, and the catalog equals a
    local run's: nothing lost, nothing stored twice."""
    from distributed import Client

    workers = cluster_of(processes, 2)
    store = tmp_path / "store"
    ingest = Ingest(batch, store, processes.address)
    ingest.first_document()
    with Client(processes.address, timeout=30, set_as_default=False) as client:
        deadline = time.monotonic() + 120
        while True:
            busy = [w for w, keys in client.processing().items() if keys]
            if busy:
                break
            assert time.monotonic() < deadline, "no page in flight to interrupt"
            time.sleep(0.1)
    time.sleep(0.5)  # well inside the page's OCR (seconds)
    kill_group(os.getpgid(workers[busy[0]]))
    code, stderr = ingest.finish()
    assert code == 0, stderr
    assert catalog(store) == local


def test_the_scheduler_lost_mid_batch_ends_the_run_and_a_rerun_completes_the_catalog(
    batch: Path, local: dict, processes: Processes, tmp_path: Path
):
    """GIVEN a batch running on a cluster
    WHEN the scheduler is SIGKILLed after the first file is stored
    THEN the run ends with exit code 5 and a message saying what to do, what it stored is
    complete and correct; and the same command on a new cluster completes the catalog."""
    cluster_of(processes, 2)
    scheduler = processes.started[0]
    store = tmp_path / "store"
    ingest = Ingest(batch, store, processes.address)
    ingest.first_document()
    started = time.monotonic()
    processes.kill(scheduler)
    code, stderr = ingest.finish(timeout=120)
    assert code == 5, stderr
    assert "connection to the Dask scheduler" in stderr and "run the same command" in stderr
    assert time.monotonic() - started < 60
    stored = catalog(store)
    assert stored and len(stored) < len(local)
    assert all(stored[doc_id] == local[doc_id] for doc_id in stored)

    processes.close()
    processes.started.clear()
    cluster_of(processes, 2)
    run = dossier("ingest", str(batch), "--store", str(store), "--cluster", processes.address)
    assert run.returncode == 0, run.stderr
    assert catalog(store) == local


def test_a_page_that_kills_its_workers_fails_its_file_with_a_clear_reason(
    batch: Path, processes: Processes, tmp_path: Path
):
    """GIVEN a cluster that gives up on a task after its worker died once
    WHEN a page's work kills the worker process
    THEN the page's outcome is an error naming the cause (Dask's KilledWorker), not an
    exception that would stop the batch."""
    from pipeline.cluster import ClusterExecutor

    processes.scheduler(DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES="0")
    processes.worker("w1")
    processes.wait_for_workers(1)
    cfg = Config(store=tmp_path / "store", cluster=processes.address)
    executor = ClusterExecutor(cfg)
    try:
        source = identify(batch / "marriage.png")
        outcome = executor.submit(die, PageTask(source, 0, str(tmp_path)), cfg).result(120)
    finally:
        executor.shutdown(wait=False, cancel_futures=True)
    assert isinstance(outcome, PageOutcome)
    assert outcome.error and "crashed the cluster worker reading it" in outcome.error


def die(task: PageTask, cfg: Config) -> PageOutcome:
    """Page work that crashes its worker process, as a fatal library bug would."""
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("unreachable")


# -- errors at start -----------------------------------------------------------------------


def test_an_unreachable_scheduler_is_a_clear_error_with_exit_code_5(batch: Path, tmp_path: Path):
    started = time.monotonic()
    address = f"tcp://127.0.0.1:{free_port()}"
    run = dossier("ingest", str(batch), "--store", str(tmp_path / "s"), "--cluster", address)
    assert run.returncode == 5, run.stderr
    assert f"The Dask scheduler at {address} cannot be reached" in run.stderr
    assert "dask scheduler" in run.stderr
    assert time.monotonic() - started < 60


def test_a_worker_without_a_language_pack_refuses_to_start():
    """`dossier worker` checks Tesseract before starting: exit code 4, naming the package."""
    run = dossier("worker", "--scheduler", "tcp://127.0.0.1:9", "--lang", "vie+xyz", timeout=60)
    assert run.returncode == 4, run.stderr
    assert "xyz" in run.stderr and "tesseract-ocr-xyz" in run.stderr


def test_a_dask_worker_with_the_preload_stops_when_it_cannot_read_as_dossier_needs(
    processes: Processes,
):
    """The documented plain `dask worker --preload pipeline.cluster` fails at start too,
    with the reason, instead of joining and failing every page."""
    processes.scheduler()
    argv = [sys.executable, "-m", "distributed.cli.dask_worker", processes.address]
    argv += ["--nthreads", "1", "--no-dashboard", "--preload", "pipeline.cluster"]
    argv += ["--dossier-lang", "vie+xyz"]
    run = subprocess.run(
        argv, cwd=REPO, env=_environment(), capture_output=True, text=True, timeout=120
    )
    assert run.returncode != 0
    assert "dossier worker cannot start" in run.stderr and "tesseract-ocr-xyz" in run.stderr

    # Several threads in one worker process would read PDF pages concurrently: refused.
    argv = [sys.executable, "-m", "distributed.cli.dask_worker", processes.address]
    argv += ["--nthreads", "2", "--no-dashboard", "--preload", "pipeline.cluster"]
    run = subprocess.run(
        argv, cwd=REPO, env=_environment(), capture_output=True, text=True, timeout=120
    )
    assert run.returncode != 0
    assert "needs one per process" in run.stderr
