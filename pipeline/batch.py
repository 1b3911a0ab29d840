"""Batch orchestration: the flow of DESIGN.md for many files at once.

intake (sha256, "already on file?") -> page work in a pool of worker processes
(cleanup + read, streamed with a bounded number of pages in flight) -> per file:
split into documents, extract fields -> outputs and catalog written by this process
alone, one transaction per file. A bad file is set aside with its reason; a killed run
is simply run again (ids are content-derived, documents are written all or nothing).
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from indexer.sqlite import SqliteIndex
from ocr.searchable import PdfPagePart
from pipeline import intake, store
from pipeline.config import Config
from pipeline.errors import BadInputError
from pipeline.extract import analyze
from pipeline.model import Document, Page, SourceFile, StageTiming, document_id
from pipeline.pages import PageOutcome, PageTask, count_pages, init_worker, process_page
from pipeline.schemas import Schemas, load_schemas

log = logging.getLogger(__name__)

# Pages queued per worker: enough to keep every core busy, few enough that memory
# stays flat however long the input.
IN_FLIGHT_PER_WORKER = 2
MAX_PAGE_RETRIES = 2  # a page that crashed its worker this often fails its file


@dataclass
class DocumentResult:
    """One line of `dossier ingest --json`."""

    id: str | None
    source: str
    sha256: str | None
    status: str  # new | present | reused | failed
    doc_type: str | None = None
    pages: int = 0
    error: str | None = None
    seconds: float = 0.0

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "source": self.source,
            "sha256": self.sha256,
            "status": self.status,
            "doc_type": self.doc_type,
            "pages": self.pages,
            "error": self.error,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class BatchSummary:
    documents: int = 0
    pages: int = 0
    new: int = 0
    present: int = 0
    reused: int = 0
    failed: int = 0
    seconds: float = 0.0
    results: list[DocumentResult] = field(default_factory=list)

    def add(self, result: DocumentResult) -> None:
        self.results.append(result)
        if result.status == "failed":
            self.failed += 1
            return
        self.documents += 1
        self.pages += result.pages
        setattr(self, result.status, getattr(self, result.status) + 1)

    def to_json(self) -> dict:
        keys = ("documents", "pages", "new", "present", "reused", "failed")
        return {**{k: getattr(self, k) for k in keys}, "seconds": round(self.seconds, 3)}


@dataclass
class Progress:
    """What a progress display needs, sent after every page and every file."""

    files_total: int
    pages_total: int
    files_done: int = 0
    pages_done: int = 0
    documents: int = 0
    failed: int = 0
    last: DocumentResult | None = None


ProgressCallback = Callable[[Progress], None]


@dataclass
class _FileJob:
    source: SourceFile
    page_count: int
    started: float
    intake_seconds: float
    outcomes: dict[int, PageOutcome] = field(default_factory=dict)
    error: str | None = None

    @property
    def complete(self) -> bool:
        return self.error is not None or len(self.outcomes) == self.page_count


class Batch:
    """One ingest run over many files, writing to one catalog."""

    def __init__(
        self,
        cfg: Config,
        index: SqliteIndex,
        *,
        executor_factory: Callable[[], Executor] | None = None,
        schemas: Schemas | None = None,
        on_progress: ProgressCallback | None = None,
        on_result: Callable[[DocumentResult], None] | None = None,
    ):
        self.cfg = cfg
        self.on_result = on_result
        self.index = index
        self.schemas = schemas or load_schemas()
        self.on_progress = on_progress
        self._executor_factory = executor_factory or self._default_executor
        self.summary = BatchSummary()

    def _default_executor(self) -> Executor:
        if self.cfg.cluster:  # page work on a Dask cluster's workers (pipeline/cluster.py)
            from pipeline.cluster import ClusterExecutor

            return ClusterExecutor(self.cfg)
        return ProcessPoolExecutor(max_workers=max(self.cfg.jobs, 1), initializer=init_worker)

    # -- intake ------------------------------------------------------------------

    def _intake(self, path: Path, progress: Progress) -> Iterator[_FileJob]:
        """Identify one file; answer it from the catalog when already there."""
        started = time.perf_counter()
        try:
            source = intake.identify(path)
        except BadInputError as exc:
            self._fail(str(path), None, str(exc), progress, started)
            return
        known = self.index.find_by_sha256(source.sha256)
        if known:
            seconds = time.perf_counter() - started
            for doc_id in known:
                doc = self.index.get_document(doc_id)
                result = DocumentResult(
                    id=doc_id,
                    source=str(path),
                    sha256=source.sha256,
                    status="present",
                    doc_type=doc.doc_type if doc else None,
                    pages=doc.page_count if doc else 0,
                    seconds=seconds / len(known),
                )
                self._finish(result, progress)
            self.index.clear_failure(str(path))
            progress.files_done += 1
            self._report(progress)
            return
        try:
            page_count = count_pages(source, self.cfg)
        except BadInputError as exc:
            self._fail(str(path), source.sha256, str(exc), progress, started)
            return
        folder = store.work_dir(self.cfg.store, source.sha256)
        shutil.rmtree(folder, ignore_errors=True)  # leftovers of a killed run
        folder.mkdir(parents=True, exist_ok=True)
        yield _FileJob(source, page_count, started, time.perf_counter() - started)

    def _fail(
        self, path: str, sha256: str | None, reason: str, progress: Progress, started: float
    ) -> None:
        log.debug("set aside: %s", reason)
        self.index.record_failure(path, sha256, reason)
        result = DocumentResult(
            id=None,
            source=path,
            sha256=sha256,
            status="failed",
            error=reason,
            seconds=time.perf_counter() - started,
        )
        progress.files_done += 1
        self._finish(result, progress)

    def _finish(self, result: DocumentResult, progress: Progress) -> None:
        self.summary.add(result)
        if result.status == "failed":
            progress.failed += 1
        else:
            progress.documents += 1
        progress.last = result
        if self.on_result is not None:
            self.on_result(result)
        self._report(progress)

    def _report(self, progress: Progress) -> None:
        if self.on_progress is not None:
            self.on_progress(progress)

    # -- documents ---------------------------------------------------------------

    def _documents(self, job: _FileJob) -> list[tuple[Document, list[PdfPagePart]]]:
        """Split the file's pages into documents, extract fields, time each stage."""
        pages: list[Page] = [job.outcomes[i].page for i in range(job.page_count)]  # type: ignore[misc]
        started = time.perf_counter()
        analyses = analyze(pages, self.schemas)
        extract_seconds = time.perf_counter() - started
        built = []
        for number, analysis in enumerate(analyses):
            doc_id = document_id(
                job.source.sha256, analysis.first_page, analysis.last_page, job.page_count
            )
            doc_pages = pages[analysis.first_page : analysis.last_page + 1]
            timings = []
            for page in doc_pages:
                outcome = job.outcomes[page.index]
                timings += [
                    StageTiming(doc_id, stage, seconds, outcome.worker, page.index)
                    for stage, seconds in page.timings.items()
                ]
            share = len(doc_pages) / job.page_count
            if number == 0:
                timings.append(StageTiming(doc_id, "intake", job.intake_seconds))
            timings.append(StageTiming(doc_id, "extract", extract_seconds * share))
            doc = Document(
                id=doc_id,
                source=job.source,
                first_page=analysis.first_page,
                last_page=analysis.last_page,
                doc_type=analysis.doc_type,
                doc_type_score=analysis.doc_type_score,
                pages=doc_pages,
                fields=analysis.fields,
                status="new",
                timings=timings,
            )
            parts = [
                PdfPagePart(
                    Path(job.outcomes[p.index].pdf_part or job.source.path),
                    0 if job.outcomes[p.index].pdf_part else p.index,
                )
                for p in doc_pages
            ]
            built.append((doc, parts))
        return built

    def _complete_file(self, job: _FileJob, progress: Progress) -> None:
        path = job.source.path
        if job.error is not None:
            self._fail(path, job.source.sha256, job.error, progress, job.started)
            shutil.rmtree(store.work_dir(self.cfg.store, job.source.sha256), ignore_errors=True)
            return
        try:
            built = self._documents(job)
            started = time.perf_counter()
            original = store.save_original(self.cfg.store, job.source)
            for doc, parts in built:
                doc.outputs["original"] = str(original)
                store.write_outputs(self.cfg.store, doc, parts)
            store_seconds = time.perf_counter() - started
            for doc, _ in built:
                doc.timings.append(
                    StageTiming(doc.id, "store", store_seconds * doc.page_count / job.page_count)
                )
            # All documents of one file in one transaction: the file is on file or not.
            self.index.put_documents([doc for doc, _ in built])
        except BadInputError as exc:
            self._fail(path, job.source.sha256, str(exc), progress, job.started)
            return
        finally:
            shutil.rmtree(store.work_dir(self.cfg.store, job.source.sha256), ignore_errors=True)
        self.index.clear_failure(path)
        progress.files_done += 1
        for doc, _ in built:
            seconds = sum(t.seconds for t in doc.timings)
            self._finish(
                DocumentResult(
                    id=doc.id,
                    source=path,
                    sha256=job.source.sha256,
                    status="new",
                    doc_type=doc.doc_type,
                    pages=doc.page_count,
                    seconds=seconds,
                ),
                progress,
            )

    # -- the run -----------------------------------------------------------------

    def run(self, paths: Iterable[Path]) -> BatchSummary:
        started = time.perf_counter()
        files = list(intake.discover(paths))
        progress = Progress(files_total=len(files), pages_total=0)
        self._report(progress)
        self._executor = self._executor_factory()
        self._generation = 0
        try:
            self._run(files, progress)
        finally:
            self._executor.shutdown(wait=True, cancel_futures=True)
        self.summary.seconds = time.perf_counter() - started
        return self.summary

    def _tasks(
        self, files: list[Path], progress: Progress, jobs: dict[str, _FileJob]
    ) -> Iterator[PageTask]:
        for path in files:
            for job in self._intake(path, progress):
                jobs[job.source.sha256] = job
                progress.pages_total += job.page_count
                self._report(progress)
                folder = str(store.work_dir(self.cfg.store, job.source.sha256))
                for index in range(job.page_count):
                    if job.error is not None:
                        break  # the file already failed: don't read its other pages
                    yield PageTask(job.source, index, folder)

    def _submit(self, task: PageTask, retries: int) -> tuple[Future, tuple[PageTask, int, int]]:
        try:
            future = self._executor.submit(process_page, task, self.cfg)
        except BrokenProcessPool:
            self._replace_executor(self._generation)
            future = self._executor.submit(process_page, task, self.cfg)
        return future, (task, retries, self._generation)

    def _replace_executor(self, generation: int) -> None:
        """A worker died (crash, out of memory): every page it shared the pool with is
        retried on a new pool, once per dead pool."""
        if generation != self._generation:
            return
        log.warning("a worker process died; starting new workers and retrying its pages")
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._executor = self._executor_factory()
        self._generation += 1

    def _run(self, files: list[Path], progress: Progress) -> None:
        jobs: dict[str, _FileJob] = {}
        tasks = self._tasks(files, progress, jobs)
        pending: dict[Future, tuple[PageTask, int, int]] = {}
        exhausted = False
        while True:
            # A cluster says how many pages it reads at once; its workers come and go.
            slots = getattr(self._executor, "slots", max(self.cfg.jobs, 1))
            while not exhausted and len(pending) < slots * IN_FLIGHT_PER_WORKER:
                task = next(tasks, None)
                if task is None:
                    exhausted = True
                    break
                future, meta = self._submit(task, 0)
                pending[future] = meta
            if not pending:
                break
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                task, retries, generation = pending.pop(future)
                job = jobs[task.source.sha256]
                try:
                    outcome = future.result()
                except BrokenProcessPool:
                    self._replace_executor(generation)
                    if retries < MAX_PAGE_RETRIES:
                        future, meta = self._submit(task, retries + 1)
                        pending[future] = meta
                        continue
                    outcome = PageOutcome(
                        index=task.index, error=f"page {task.index + 1} crashed the reader"
                    )
                if outcome.error is not None and job.error is None:
                    job.error = outcome.error
                job.outcomes[outcome.index] = outcome
                progress.pages_done += 1
                self._report(progress)
                sha = job.source.sha256
                if job.complete and not any(t.source.sha256 == sha for t, _, _ in pending.values()):
                    del jobs[sha]
                    self._complete_file(job, progress)


def open_index(cfg: Config) -> SqliteIndex:
    """The catalog for this configuration."""
    return SqliteIndex(cfg.catalog_path)
