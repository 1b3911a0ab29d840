"""Batch orchestration: the flow of DESIGN.md for many files at once.

intake (sha256, "already on file?") -> page work in a pool of worker processes
(cleanup + read, streamed with a bounded number of pages in flight) -> per file, its
pages taken in order as they arrive: split into documents, each extracted and its
outputs written as soon as the next one opens, then kept on disk -> the catalog written
by this process alone, one transaction per file. Memory does not grow with the length
of a file. A bad file is set aside with its reason; a killed run is simply run again
(ids are content-derived, documents are written all or nothing).
"""

from __future__ import annotations

import datetime as dt
import logging
import multiprocessing
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path

from indexer.base import Index
from ocr.searchable import PdfPagePart
from pipeline import intake, store
from pipeline.config import Config
from pipeline.errors import BackendError, BackendUnavailableError, BadInputError
from pipeline.extract import Line, analyze_document, build_lines, opens_document
from pipeline.model import (
    Document,
    Page,
    ReuseDecision,
    SourceFile,
    StageTiming,
    document_id,
)
from pipeline.pages import PageOutcome, PageTask, count_pages, init_worker, process_page
from pipeline.reuse import DossierRequest, identity_reuse
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
    reuse: ReuseDecision | None = None

    def to_json(self) -> dict:
        reuse = None
        if self.reuse is not None:
            reuse = {
                "kind": self.reuse.kind,
                "of": self.reuse.of,
                "evidence": self.reuse.evidence,
                "seconds_saved": self.reuse.seconds_saved,
            }
        return {
            "id": self.id,
            "source": self.source,
            "sha256": self.sha256,
            "status": self.status,
            "doc_type": self.doc_type,
            "pages": self.pages,
            "error": self.error,
            "seconds": round(self.seconds, 3),
            "reuse": reuse,
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
    spill: store.Spill  # the file's finished documents, on disk until its transaction
    # Outcomes arrived but not yet taken into a document (out of order, or re-scans).
    outcomes: dict[int, PageOutcome] = field(default_factory=dict)
    error: str | None = None
    near_resolved: bool = False  # the re-scan decision for the whole file has been made
    next_page: int = 0  # pages before it are in documents (finished or open)
    # The open document: its pages' outcomes and lines, and the seconds spent on them.
    open_pages: list[PageOutcome] = field(default_factory=list)
    open_lines: list[list[Line]] = field(default_factory=list)
    open_seconds: float = 0.0
    original: Path | None = None  # the file's copy in the store, once saved
    finished: list[DocumentResult] = field(default_factory=list)  # spilled, in order
    entries: list[dict] = field(default_factory=list)  # reuse decisions about them

    @property
    def complete(self) -> bool:
        return self.error is not None or self.next_page + len(self.outcomes) == self.page_count


class Batch:
    """One ingest run over many files, writing to one catalog."""

    def __init__(
        self,
        cfg: Config,
        index: Index,
        *,
        executor_factory: Callable[[], Executor] | None = None,
        schemas: Schemas | None = None,
        on_progress: ProgressCallback | None = None,
        on_result: Callable[[DocumentResult], None] | None = None,
        dossier: DossierRequest | None = None,
        today: dt.date | None = None,
    ):
        self.cfg = cfg
        self.on_result = on_result
        self.dossier = dossier
        self.today = today or dt.date.today()
        self.index = index
        self.schemas = schemas or load_schemas()
        self.on_progress = on_progress
        self._executor_factory = executor_factory or self._default_executor
        self.summary = BatchSummary()

    def _default_executor(self) -> Executor:
        if self.cfg.cluster:  # page work on a Dask cluster's workers (pipeline/cluster.py)
            from pipeline.cluster import ClusterExecutor

            return ClusterExecutor(self.cfg)
        # forkserver, not fork: a forked worker would inherit this process's open files
        # and the progress display's thread. The server imports the page code once and
        # every worker starts as a copy of it (each import costs ~0.7 s CPU otherwise).
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["pipeline.pages"])
        return ProcessPoolExecutor(
            max_workers=max(self.cfg.jobs, 1), mp_context=context, initializer=init_worker
        )

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
                self._finish(
                    self._already_on_file(path, source, doc_id, seconds / len(known)), progress
                )
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
        spill = store.Spill(folder / "documents.jsonl")
        yield _FileJob(source, page_count, started, time.perf_counter() - started, spill)

    def _already_on_file(
        self, path: Path, source: SourceFile, doc_id: str, seconds: float
    ) -> DocumentResult:
        """Same bytes as a stored document: answered from the catalog, never read again.
        Within the same dossier (or none) it is simply present; arriving in another
        dossier, it is reused there (exact), and the reuse is logged."""
        doc = self.index.get_document(doc_id)
        result = DocumentResult(
            id=doc_id,
            source=str(path),
            sha256=source.sha256,
            status="present",
            doc_type=doc.doc_type if doc else None,
            pages=doc.page_count if doc else 0,
            seconds=seconds,
        )
        if self.dossier is None or self.index.dossier_has(self.dossier.id, doc_id):
            return result
        baseline = self.index.processing_seconds(doc_id)
        decision = ReuseDecision(
            kind="exact",
            of=doc_id,
            evidence={"sha256": source.sha256},
            seconds_saved=round(baseline - seconds, 4) if baseline is not None else None,
        )
        self.index.link_reuse(
            self._log_entry(doc_id, decision, seconds, baseline), (self.dossier.id, doc_id)
        )
        result.status, result.reuse = "reused", decision
        return result

    def _log_entry(
        self, doc_id: str, decision: ReuseDecision, seconds: float, baseline: float | None
    ) -> dict:
        return {
            "document_id": doc_id,
            "kind": decision.kind,
            "of": decision.of,
            "dossier_id": self.dossier.id if self.dossier else None,
            "procedure": self.dossier.procedure if self.dossier else None,
            "evidence": decision.evidence,
            "seconds": round(seconds, 6),
            "baseline_seconds": round(baseline, 6) if baseline is not None else None,
        }

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

    def _take(self, job: _FileJob) -> None:
        """Take the file's next pages, in page order, as far as they have arrived: a page
        that opens a document (the boundary rule of extract.split_documents) finishes the
        one before it. Re-scanned pages wait for the file's re-scan decision."""
        while job.error is None:
            outcome = job.outcomes.get(job.next_page)
            if outcome is None or outcome.near is not None:
                return
            del job.outcomes[job.next_page]
            started = time.perf_counter()
            lines = build_lines(outcome.page, 0)  # type: ignore[arg-type]
            opens = bool(job.open_pages) and opens_document(self.schemas, lines, outcome.page)  # type: ignore[arg-type]
            seconds = time.perf_counter() - started
            if opens:
                self._finish_document(job)
            job.open_pages.append(outcome)
            job.open_lines.append(lines)
            job.open_seconds += seconds
            job.next_page += 1

    def _finish_document(self, job: _FileJob) -> None:
        """Extract the open document, write its outputs, and keep it on disk for the
        file's transaction: its pages' words leave memory."""
        outcomes, pages = job.open_pages, [o.page for o in job.open_pages]
        started = time.perf_counter()
        analysis = analyze_document(
            self.schemas, job.open_lines, pages, 0, len(pages) - 1, dt.date.today()
        )
        first, last = pages[0].index, pages[-1].index  # type: ignore[union-attr]
        doc_id = document_id(job.source.sha256, first, last, job.page_count)
        timings = self._page_timings(doc_id, outcomes, pages)  # type: ignore[arg-type]
        if first == 0:
            timings.append(StageTiming(doc_id, "intake", job.intake_seconds))
        extract_seconds = job.open_seconds + time.perf_counter() - started
        timings.append(StageTiming(doc_id, "extract", extract_seconds))
        doc = Document(
            id=doc_id,
            source=job.source,
            first_page=first,
            last_page=last,
            doc_type=analysis.doc_type,
            doc_type_score=analysis.doc_type_score,
            pages=pages,  # type: ignore[arg-type]
            fields=analysis.fields,
            status="new",
            timings=timings,
            dossier_id=self.dossier.id if self.dossier else None,
        )
        parts = [
            PdfPagePart(Path(o.pdf_part or job.source.path), 0 if o.pdf_part else o.index)
            for o in outcomes
        ]
        started = time.perf_counter()
        if job.original is None:
            job.original = store.save_original(self.cfg.store, job.source)
        doc.outputs["original"] = str(job.original)
        store.write_outputs(self.cfg.store, doc, parts)
        store.keep_comparisons(self.cfg.store, doc.id, [o.compare_part for o in outcomes])
        for o in outcomes:  # assembled into the document's PDF: no longer needed
            if o.pdf_part:
                Path(o.pdf_part).unlink(missing_ok=True)
        doc.timings.append(StageTiming(doc.id, "store", time.perf_counter() - started))
        entry = self._identity(doc)
        if entry is not None:
            job.entries.append(entry)
        job.spill.add(doc)
        job.finished.append(self._result(doc))
        job.open_pages, job.open_lines, job.open_seconds = [], [], 0.0

    @staticmethod
    def _result(doc: Document) -> DocumentResult:
        return DocumentResult(
            id=doc.id,
            source=doc.source.path,
            sha256=doc.source.sha256,
            status=doc.status,
            doc_type=doc.doc_type,
            pages=doc.page_count,
            seconds=sum(t.seconds for t in doc.timings),
            reuse=doc.reuse,
        )

    @staticmethod
    def _page_timings(
        doc_id: str, outcomes: list[PageOutcome], pages: list[Page]
    ) -> list[StageTiming]:
        timings = []
        for outcome, page in zip(outcomes, pages, strict=True):
            timings += [
                StageTiming(doc_id, stage, seconds, outcome.worker, page.index)
                for stage, seconds in page.timings.items()
            ]
        return timings

    def _identity(self, doc: Document) -> dict | None:
        """Link a freshly read document to the stored one with its identity key."""
        from pipeline.reuse import identity_key

        key = identity_key(doc)
        if key is None:
            return None
        decision = identity_reuse(doc, self.index.find_by_identity(*key), self.today)
        if decision is None:
            return None
        doc.status, doc.reuse = "reused", decision
        seconds = sum(t.seconds for t in doc.timings)
        # The document was read in full: identity saves the citizen a trip, not OCR time.
        decision.seconds_saved = 0.0
        return self._log_entry(doc.id, decision, seconds, seconds)

    def _near_target(self, job: _FileJob) -> Document | None:
        """The stored document this whole file re-scans, page for page, if proven."""
        if job.next_page > 0 or len(job.outcomes) < job.page_count:  # pages were read
            return None
        matches = [job.outcomes[i].near for i in range(job.page_count)]
        if any(m is None for m in matches):
            return None
        targets = {m.document_id for m in matches}  # type: ignore[union-attr]
        if len(targets) != 1:
            return None
        stored = self.index.get_document(targets.pop())
        if stored is None or stored.page_count != job.page_count:
            return None
        if [m.page_index for m in matches] != list(range(job.page_count)):  # type: ignore[union-attr]
            return None
        return stored

    def _near_document(self, job: _FileJob, stored: Document) -> Document:
        """A re-scan of a stored paper: it carries the stored reading, not a new one."""
        doc_id = document_id(job.source.sha256, 0, job.page_count - 1, job.page_count)
        pages = []
        for i, stored_page in enumerate(stored.pages):
            own = job.outcomes[i].page
            pages.append(
                Page(
                    index=i,
                    width=stored_page.width,
                    height=stored_page.height,
                    dpi=stored_page.dpi,
                    method=stored_page.method,
                    words=stored_page.words,
                    phash=own.phash if own else None,
                    cleanup=own.cleanup if own else None,
                    compare_transform=stored_page.compare_transform,
                    timings=own.timings if own else {},
                )
            )
        outcomes = [job.outcomes[i] for i in range(job.page_count)]
        timings = self._page_timings(doc_id, outcomes, pages)
        timings.append(StageTiming(doc_id, "intake", job.intake_seconds))
        matches = [job.outcomes[i].near for i in range(job.page_count)]
        decision = ReuseDecision(
            kind="near",
            of=stored.id,
            evidence={
                "hash_distance": [m.distance for m in matches],  # type: ignore[union-attr]
                "confirmation": [m.score for m in matches],  # type: ignore[union-attr]
                "proof": [m.reason for m in matches],  # type: ignore[union-attr]
            },
        )
        return Document(
            id=doc_id,
            source=job.source,
            first_page=0,
            last_page=job.page_count - 1,
            doc_type=stored.doc_type,
            doc_type_score=stored.doc_type_score,
            pages=pages,
            fields=stored.fields,
            status="reused",
            reuse=decision,
            timings=timings,
            dossier_id=self.dossier.id if self.dossier else None,
        )

    def _near_retry(self, job: _FileJob) -> list[PageTask]:
        """Pages that skipped OCR as re-scans, when the file as a whole is not a re-scan
        of one stored document: they must be read after all."""
        if job.error is not None or job.near_resolved:
            return []
        job.near_resolved = True
        if self._near_target(job) is not None:
            return []
        folder = str(store.work_dir(self.cfg.store, job.source.sha256))
        retry = [i for i, o in job.outcomes.items() if o.near is not None]
        for i in retry:
            del job.outcomes[i]
        return [PageTask(job.source, i, folder, near_check=False) for i in retry]

    def _store_near(self, job: _FileJob, stored: Document) -> list[DocumentResult]:
        """Store a re-scan of `stored`: its sidecar and comparison images, no new reading."""
        doc = self._near_document(job, stored)
        baseline = self.index.processing_seconds(stored.id)
        started = time.perf_counter()
        doc.outputs["original"] = str(store.save_original(self.cfg.store, job.source))
        for name in ("pdf", "text"):
            if stored.outputs.get(name):
                doc.outputs[name] = stored.outputs[name]
        store.write_sidecar(self.cfg.store, doc)
        compare = [job.outcomes[p.index].compare_part for p in doc.pages]
        store.keep_comparisons(self.cfg.store, doc.id, compare)
        doc.timings.append(StageTiming(doc.id, "store", time.perf_counter() - started))
        seconds = sum(t.seconds for t in doc.timings)
        if baseline is not None:
            doc.reuse.seconds_saved = round(baseline - seconds, 4)  # type: ignore[union-attr]
        job.entries.append(self._log_entry(doc.id, doc.reuse, seconds, baseline))  # type: ignore[arg-type]
        job.spill.add(doc)
        return [self._result(doc)]

    def _complete_file(self, job: _FileJob, progress: Progress) -> None:
        path = job.source.path
        results: list[DocumentResult] = []
        try:
            if job.error is None:
                stored = self._near_target(job)
                if stored is not None:
                    results = self._store_near(job, stored)
                else:
                    if job.open_pages:
                        self._finish_document(job)
                    results = job.finished
                # All documents of one file, and the reuse decisions about them, in one
                # transaction: the file is on file or it is not. They come back from the
                # work folder one at a time.
                self._put(job.spill, job.entries, job.source.sha256)
        except BadInputError as exc:
            job.error = str(exc)
        finally:
            shutil.rmtree(store.work_dir(self.cfg.store, job.source.sha256), ignore_errors=True)
        if job.error is not None:
            for result in job.finished:  # outputs already written of a file set aside
                shutil.rmtree(store.document_dir(self.cfg.store, result.id), ignore_errors=True)
            self._fail(path, job.source.sha256, job.error, progress, job.started)
            return
        self.index.clear_failure(path)
        progress.files_done += 1
        for result in results:
            self._finish(result, progress)

    # -- the run -----------------------------------------------------------------

    def _put(self, docs: Iterable[Document], entries: list[dict], sha256: str) -> None:
        """Write a file's documents to the catalog. When the catalog cannot take them
        (a search cluster down), they are kept in the store as pending, so the next run
        sends them without reading the file again; then the run stops."""
        try:
            self.index.put_documents(docs, entries)
        except (BackendUnavailableError, BackendError) as exc:
            store.keep_pending(self.cfg.store, sha256, docs, entries)
            raise type(exc)(
                f"{exc.message} The documents read so far are kept in "
                f"{store.pending_dir(self.cfg.store)} and sent on the next run.",
                hint=exc.hint,
            ) from exc

    def send_pending(self) -> int:
        """Send the documents a previous run could not write; returns how many."""
        sent = 0
        for path, docs, entries in store.pending(self.cfg.store):
            self.index.put_documents(docs, entries)
            path.unlink()
            sent += len(docs)
            log.info("sent %d document(s) kept from an earlier run (%s)", len(docs), path.name)
        return sent

    def run(self, paths: Iterable[Path]) -> BatchSummary:
        started = time.perf_counter()
        self.send_pending()
        files = list(intake.discover(paths))
        progress = Progress(files_total=len(files), pages_total=0)
        self._report(progress)
        if self.dossier is not None:
            self.index.put_dossier(self.dossier.id, self.dossier.procedure, self.dossier.citizen_id)
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
                near_check = self.cfg.near_reuse and self.index.has_pages()
                for index in range(job.page_count):
                    if job.error is not None:
                        break  # the file already failed: don't read its other pages
                    check = near_check and not job.near_resolved  # a re-scan still possible
                    yield PageTask(job.source, index, folder, near_check=check)

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
                if outcome.near is not None and job.near_resolved and job.error is None:
                    # The file is no re-scan (a page of it was read): read this page too.
                    future, meta = self._submit(replace(task, near_check=False), 0)
                    pending[future] = meta
                    continue
                job.outcomes[outcome.index] = outcome
                progress.pages_done += 1
                self._report(progress)
                if outcome.near is None and outcome.error is None:
                    # Read now, not at the file's end, the pages that skipped OCR as
                    # re-scans: the pages after them wait in memory until they are in.
                    self._resubmit(self._near_retry(job), pending, progress)
                try:
                    self._take(job)
                except BadInputError as exc:  # its documents cannot be stored: set aside
                    job.error = str(exc)
                sha = job.source.sha256
                if job.complete and not any(t.source.sha256 == sha for t, _, _ in pending.values()):
                    retry = self._near_retry(job)
                    if retry:
                        self._resubmit(retry, pending, progress)
                        continue
                    del jobs[sha]
                    self._complete_file(job, progress)

    def _resubmit(
        self,
        tasks: list[PageTask],
        pending: dict[Future, tuple[PageTask, int, int]],
        progress: Progress,
    ) -> None:
        progress.pages_done -= len(tasks)
        for task in tasks:
            future, meta = self._submit(task, 0)
            pending[future] = meta
