"""Page work on a Dask distributed cluster: a concurrent.futures Executor for Batch that
ships each page's own bytes to a cluster worker and gets words, boxes and the one-page
PDF back; and the worker side (a preload that checks Tesseract at worker start).

Intake, reuse checks and catalog writes stay in the submitting process: the catalog keeps
one writer. Dask reschedules a page whose worker died; a page that kills workers again
and again ends as KilledWorker, which fails its file like a crash of a local worker.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import threading
import time
from collections import OrderedDict
from concurrent.futures import Executor, Future
from dataclasses import replace
from pathlib import Path

import click
import pypdfium2 as pdfium
from distributed import Client
from distributed.client import FutureCancelledError
from distributed.scheduler import KilledWorker
from PIL import Image

from ocr import images, tesseract
from pipeline.config import Config
from pipeline.errors import BackendUnavailableError, BadInputError, MissingDependencyError
from pipeline.pages import PageOutcome, PageTask, init_worker, save_part

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0  # seconds to reach the scheduler before giving up
WORKER_TIMEOUT = 30.0  # seconds to wait for a first worker to join
# pdfium keeps what it parsed of a document; reopening a long PDF every so many pages
# keeps the submitting process flat (measured: +26 MB per 300 scanned pages without).
REOPEN_EVERY = 64
SLOTS_REFRESH = 2.0  # seconds between asking the scheduler how many threads it has
# Dask's housekeeping in every worker process, made rarer: its statistical profiler
# (every 10 ms), event-loop health tick (20 ms), memory monitor (100 ms) and system
# monitor (500 ms). Measured on 2 cores: an idle `dossier worker --nworkers 2` took 11%
# of a core with Dask's defaults (CPU the pages' Tesseract runs did not get), 0.8% with
# these. The environment of `dossier worker` can still override each of them.
QUIET_WORKER_ENVIRONMENT = {
    "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False",
    "DASK_DISTRIBUTED__ADMIN__TICK__INTERVAL": "1s",
    "DASK_DISTRIBUTED__WORKER__MEMORY__MONITOR_INTERVAL": "500ms",
    "DASK_DISTRIBUTED__ADMIN__SYSTEM_MONITOR__INTERVAL": "2s",
    "DASK_DISTRIBUTED__ADMIN__SYSTEM_MONITOR__GIL__ENABLED": "False",
}


# -- the page alone, as bytes ----------------------------------------------------------


class PageSplitter:
    """Cut one page out of a source file: a one-page PDF (pdfium copies the page's
    objects as they are, ~0.3 ms a page), the file itself for a one-page image, or one
    frame re-encoded losslessly as TIFF for a multi-page image."""

    def __init__(self) -> None:
        self._pdfs: OrderedDict[str, tuple[pdfium.PdfDocument, int]] = OrderedDict()
        self._frames: dict[str, int] = {}

    def page_bytes(self, task: PageTask, max_pixels: int) -> bytes:
        path = task.source.path
        if task.source.media_type == "application/pdf":
            return self._pdf_page(path, task.index)
        frames = self._frames.get(path)
        if frames is None:
            frames = self._frames[path] = images.frame_count(Path(path), max_pixels)
        if frames == 1:
            return Path(path).read_bytes()
        return _tiff_frame(Path(path), task.index)

    def _pdf_page(self, path: str, index: int) -> bytes:
        document, used = self._pdfs.pop(path, (None, 0))
        if document is None or used >= REOPEN_EVERY:
            if document is not None:
                document.close()
            document, used = pdfium.PdfDocument(path), 0
        self._pdfs[path] = (document, used + 1)
        while len(self._pdfs) > 2:  # pages of at most two files are in flight at once
            _, (old, _) = self._pdfs.popitem(last=False)
            old.close()
        single = pdfium.PdfDocument.new()
        try:
            single.import_pages(document, [index])
            buffer = io.BytesIO()
            single.save(buffer)
        finally:
            single.close()
        return buffer.getvalue()

    def close(self) -> None:
        while self._pdfs:
            _, (document, _) = self._pdfs.popitem()
            document.close()
        self._frames.clear()


def _tiff_frame(path: Path, index: int) -> bytes:
    """Frame `index` as a one-frame TIFF with the same pixels, mode and resolution."""
    with Image.open(path) as image:
        image.seek(index)
        image.load()
        frame = image
        if frame.mode == "P" and "transparency" in frame.info:
            frame = frame.convert("RGBA")  # decoded the same way on the worker (white)
        options = {"compression": "group4" if frame.mode == "1" else "tiff_lzw"}
        if "dpi" in image.info:
            options["dpi"] = image.info["dpi"]
        buffer = io.BytesIO()
        frame.save(buffer, format="TIFF", **options)
    return buffer.getvalue()


# -- the executor ---------------------------------------------------------------------


def connect(address: str, timeout: float = CONNECT_TIMEOUT) -> Client:
    """A client of the scheduler at `address`; BackendUnavailableError within `timeout`
    seconds when it cannot be reached."""
    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise BackendUnavailableError(
            f"The Dask scheduler at {address} cannot be reached ({exc}).",
            hint="Start it with 'dask scheduler' (see README, Cluster), check the address "
            "and the firewall, or ingest without --cluster.",
        ) from exc


def _missing_languages(lang: str, cmd: str) -> str | None:
    """Run on each worker: why it cannot read `lang`, or None."""
    try:
        tesseract.check_languages(lang, cmd)
    except MissingDependencyError as exc:
        return str(exc)
    return None


class ClusterExecutor(Executor):
    """Runs `fn(task, cfg)` page calls on the cluster at cfg.cluster.

    submit() takes a PageTask whose file only this process can see: the page's bytes
    travel in the task, and the one-page PDF that comes back is written into the task's
    work folder here, before the future completes. Losing the scheduler fails every
    pending future with BackendUnavailableError: files already stored stay stored, and
    running the same command again finishes the rest.
    """

    def __init__(
        self,
        cfg: Config,
        *,
        connect_timeout: float = CONNECT_TIMEOUT,
        worker_timeout: float = WORKER_TIMEOUT,
    ):
        if not cfg.cluster:
            raise ValueError("ClusterExecutor needs cfg.cluster (tcp://host:8786)")
        self.address = cfg.cluster
        self.cfg = cfg
        self._client = connect(cfg.cluster, connect_timeout)
        self._splitter = PageSplitter()
        self._pending: dict[str, object] = {}  # dask futures by key, until delivered
        self._lock = threading.Lock()
        self._closing = False
        self._slots = 0
        self._slots_checked = 0.0
        try:
            self._check_workers(worker_timeout)
        except BaseException:
            self._client.close(timeout=5)
            raise

    def _check_workers(self, timeout: float) -> None:
        try:
            self._client.wait_for_workers(1, timeout=timeout)
        except (TimeoutError, OSError) as exc:
            raise BackendUnavailableError(
                f"No worker has joined the Dask scheduler at {self.address} "
                f"within {timeout:.0f} s.",
                hint="Start workers with 'dossier worker --scheduler "
                f"{self.address}' on each OCR machine.",
            ) from exc
        problems = self._client.run(_missing_languages, self.cfg.lang, self.cfg.tesseract_cmd)
        lacking = {worker: why for worker, why in problems.items() if why}
        if lacking:
            worker, why = next(iter(sorted(lacking.items())))
            raise MissingDependencyError(
                f"{len(lacking)} cluster worker(s) cannot read {self.cfg.lang}; {worker}: {why}",
                hint="Install the language pack on those machines, or stop their workers.",
            )
        log.info("cluster %s: %d worker thread(s)", self.address, self.slots)

    @property
    def slots(self) -> int:
        """Pages the cluster reads at once (its worker threads); workers may come and go."""
        now = time.monotonic()
        if now - self._slots_checked >= SLOTS_REFRESH:
            self._slots_checked = now
            # The scheduler going away is for the futures to report, not this count.
            with contextlib.suppress(Exception):
                self._slots = sum(self._client.nthreads().values())
        return max(self._slots, 1)

    def submit(self, fn, /, *args, **kwargs) -> Future:  # type: ignore[override]
        task, cfg = args  # fn(task: PageTask, cfg: Config), as Batch submits page work
        result: Future = Future()
        result.set_running_or_notify_cancel()
        try:
            remote = replace(task, data=self._splitter.page_bytes(task, cfg.max_pixels))
        except Exception as exc:  # the file went bad since intake: fail the file, go on
            result.set_result(
                PageOutcome(index=task.index, error=f"page {task.index + 1} cannot be sent ({exc})")
            )
            return result
        key = f"page-{task.source.sha256[:16]}-{task.index}-{time.monotonic_ns()}"
        remote_future = self._client.submit(fn, remote, cfg, key=key, pure=False, **kwargs)
        with self._lock:
            self._pending[key] = remote_future
        remote_future.add_done_callback(lambda done: self._deliver(done, task, result))
        return result

    def _deliver(self, done, task: PageTask, result: Future) -> None:
        """On Dask's callback thread: turn the remote outcome into a local one."""
        with self._lock:
            self._pending.pop(done.key, None)
        try:
            outcome = done.result()
        except KilledWorker as exc:
            result.set_result(
                PageOutcome(
                    index=task.index,
                    error=f"page {task.index + 1} crashed the cluster worker reading it "
                    f"{exc.allowed_failures + 1} time(s) in a row (a library crash or out "
                    "of memory); the file is set aside",
                )
            )
        except (FutureCancelledError, OSError) as exc:
            # OSError: the result could not be gathered (CommClosedError) because the
            # scheduler went away between the task's end and its delivery.
            if self._closing:
                result.set_exception(exc)
                return
            reason = getattr(exc, "reason", None) or type(exc).__name__
            result.set_exception(
                BackendUnavailableError(
                    f"The connection to the Dask scheduler at {self.address} was lost "
                    f"({reason}). Files finished so far are stored.",
                    hint="Restart the scheduler and workers, then run the same command "
                    "again to finish the batch.",
                )
            )
        except BaseException as exc:  # a worker-side bug: surface it, don't hang the batch
            result.set_exception(exc)
        else:
            try:
                result.set_result(save_part(outcome, task.work_dir))
            except BaseException as exc:  # e.g. the store's disk is full: not the cluster
                result.set_exception(exc)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._closing = True
        with self._lock:
            remaining = list(self._pending.values())
            self._pending.clear()
        if remaining and (cancel_futures or not wait):
            with contextlib.suppress(Exception):  # already disconnected
                self._client.cancel(remaining)
        self._splitter.close()
        self._client.close(timeout=5)


# -- the worker side ------------------------------------------------------------------


def worker_command(
    scheduler: str, nworkers: int, lang: str, extra: tuple[str, ...] = ()
) -> list[str]:
    """`dask worker` as dossier needs it: one thread per process (one page per core at
    a time; cleanup holds the GIL in places), and this module preloaded to check the
    languages in every worker process."""
    return [
        sys.executable,
        "-m",
        "distributed.cli.dask_worker",
        scheduler,
        "--nworkers",
        str(nworkers),
        "--nthreads",
        "1",
        *extra,
        "--preload",
        __name__,
        "--dossier-lang",  # must follow --preload: dask passes it to dask_setup
        lang,
    ]


def run_worker(
    scheduler: str, nworkers: int, lang: str, cmd: str = "tesseract", extra: tuple[str, ...] = ()
) -> None:
    """Replace this process by a Dask worker, after checking Tesseract here so that a
    missing language pack is one clear error rather than N failing worker processes."""
    tesseract.check_languages(lang, cmd)
    environment = {**QUIET_WORKER_ENVIRONMENT, **os.environ, "OMP_THREAD_LIMIT": "1"}
    argv = worker_command(scheduler, nworkers, lang, extra)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, argv, environment)


@click.command(context_settings={"ignore_unknown_options": True})
@click.option(
    "--dossier-lang",
    default="vie+eng",
    show_default=True,
    help="Tesseract languages this worker must be able to read.",
)
def dask_setup(worker, dossier_lang: str) -> None:
    """`dask worker --preload pipeline.cluster`: one Tesseract thread per worker process,
    and a clear failure at start when a language pack is missing or the worker would
    read several pages at once in one process."""
    # One core per worker process, as in the local pool (Tesseract's and OpenCV's own
    # threads would otherwise compete with the other workers' pages).
    init_worker()
    try:
        info = tesseract.check_languages(dossier_lang)
        threads = worker.state.nthreads
        if threads > 1:  # pdfium, which rasterizes PDF pages, is not thread-safe
            raise BadInputError(
                f"this worker runs {threads} threads; dossier needs one per process.",
                hint="Start it with --nthreads 1 --nworkers N, or use 'dossier worker'.",
            )
    except (MissingDependencyError, BadInputError) as exc:
        # Dask only logs a failing preload and keeps the worker: a worker that cannot
        # read pages as dossier needs must not take any, so it stops here.
        print(f"dossier worker cannot start: {exc}", file=sys.stderr, flush=True)
        os._exit(int(exc.exit_code))
    log.info("dossier worker %s: Tesseract %s, %s", worker.name, info.version, dossier_lang)
