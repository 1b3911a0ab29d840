"""A file's pages are split into documents as they arrive, in page order, and each
document leaves memory for the store's work folder until the file's one transaction:
same documents as splitting the whole file at once, all or nothing per file."""

from __future__ import annotations

import dataclasses
import threading
from concurrent.futures import Executor, Future
from pathlib import Path

import pytest

from indexer.sqlite import PUT_CHUNK, SqliteIndex
from pipeline import intake, store
from pipeline.batch import Batch
from pipeline.config import Config
from pipeline.extract import analyze
from pipeline.model import document_id
from pipeline.pages import PageOutcome, PageTask, process_page
from pipeline.schemas import load_schemas
from tests.conftest import write_text_pdf

MOTTO = ["CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc"]


def _birth(name: str, number: int) -> list[str]:
    return [*MOTTO, "GIẤY KHAI SINH", f"Số: {number}/2020", f"Họ, chữ đệm, tên: {name}"]


# Five pages, three documents: a birth certificate with a second page, another one, and
# a residence confirmation with a second page.
PAGES = [
    _birth("TRẦN VĂN AN", 101),
    ["Nơi sinh: Bệnh viện Phụ sản Hà Nội", "Quốc tịch: Việt Nam", "Dân tộc: Kinh"],
    _birth("LÊ THỊ BÌNH", 102),
    [*MOTTO, "GIẤY XÁC NHẬN THÔNG TIN VỀ CƯ TRÚ", "Họ, chữ đệm và tên: PHẠM MINH TUẤN"],
    ["Nơi thường trú: Số 5 phố Hàng Bạc, Hà Nội", "Ghi chú: không có thông tin khác"],
]


class InThread(Executor):
    """Page work in this process, one page at a time (pdfium is not thread-safe); the
    page `late` is delivered a moment after the others, so pages arrive out of order;
    the page `bad` comes back as an error that sets the file aside."""

    slots = 8  # every page of the file in flight at once

    def __init__(self, late: int | None = None, bad: int | None = None):
        self.late, self.bad = late, bad
        self._lock = threading.Lock()

    def submit(self, fn, /, *args, **kwargs) -> Future:  # type: ignore[override]
        task: PageTask = args[0]
        future: Future = Future()
        if task.index == self.bad:
            future.set_result(PageOutcome(index=task.index, error="page 4 is unreadable"))
            return future
        with self._lock:
            outcome = fn(*args, **kwargs)
        if task.index == self.late:
            threading.Timer(0.5, future.set_result, [outcome]).start()
        else:
            future.set_result(outcome)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        pass


@pytest.fixture
def source_pdf(tmp_path: Path) -> Path:
    return write_text_pdf(tmp_path / "batch-scan.pdf", PAGES)


def _run(cfg: Config, path: Path, executor: Executor) -> tuple[Batch, SqliteIndex]:
    index = SqliteIndex(cfg.catalog_path)
    batch = Batch(cfg, index, executor_factory=lambda: executor)
    batch.run([path])
    return batch, index


def test_pages_arriving_out_of_order_give_the_documents_of_the_whole_file(tmp_path, source_pdf):
    """GIVEN a five-page batch scan of three documents whose first page is read last
    WHEN it is ingested
    THEN the documents are those of splitting and extracting the whole file at once:
    same ids, page ranges, types, fields and text, all in the catalog; the work folder
    is gone."""
    cfg = Config(store=tmp_path / "store", jobs=1)
    batch, index = _run(cfg, source_pdf, InThread(late=0))

    source = intake.identify(source_pdf)
    pages = [process_page(PageTask(source, i, str(tmp_path)), cfg).page for i in range(5)]
    wanted = analyze(pages, load_schemas())  # type: ignore[arg-type]
    assert [(a.first_page, a.last_page) for a in wanted] == [(0, 1), (2, 2), (3, 4)]
    assert batch.summary.documents == 3 and batch.summary.failed == 0
    for analysis in wanted:
        doc_id = document_id(source.sha256, analysis.first_page, analysis.last_page, 5)
        doc = index.get_document(doc_id)
        assert doc is not None
        assert doc.doc_type == analysis.doc_type
        assert [(f.name, f.value) for f in doc.fields] == [
            (f.name, f.value) for f in analysis.fields
        ]
        span = pages[analysis.first_page : analysis.last_page + 1]
        assert doc.text == "\n\n".join(p.text for p in span)  # type: ignore[union-attr]
        assert Path(doc.outputs["pdf"]).exists()
    assert not store.work_dir(cfg.store, source.sha256).exists()


def test_a_page_failing_after_documents_were_written_sets_the_whole_file_aside(
    tmp_path, source_pdf
):
    """GIVEN a batch scan whose fourth page cannot be read, after its first two
    documents were already extracted and written to the store
    WHEN it is ingested
    THEN the file is set aside: no document of it in the catalog, none of its outputs
    left in the store, its work folder gone."""
    cfg = Config(store=tmp_path / "store", jobs=1)
    batch, index = _run(cfg, source_pdf, InThread(bad=3))

    assert batch.summary.failed == 1 and batch.summary.documents == 0
    assert index.count_documents() == 0
    documents = store.document_dir(cfg.store, "x").parent
    assert not documents.exists() or not any(documents.iterdir())
    sha = intake.identify(source_pdf).sha256
    assert not store.work_dir(cfg.store, sha).exists()


def test_spilled_documents_come_back_as_they_were(tmp_path, source_pdf):
    """GIVEN documents of a file kept in a spill file
    WHEN read back (twice: a pending list reads them again)
    THEN each is the document that was spilled."""
    cfg = Config(store=tmp_path / "store", jobs=1)
    _, index = _run(cfg, source_pdf, InThread())
    docs = list(index.iter_documents())
    spill = store.Spill(tmp_path / "documents.jsonl")
    for doc in docs:
        spill.add(doc)
    assert [d.to_dict() for d in spill] == [d.to_dict() for d in docs]
    assert [d.to_dict() for d in spill] == [d.to_dict() for d in docs]


def test_a_long_put_is_one_transaction_across_its_rounds(tmp_path, source_pdf):
    """GIVEN more documents than one round of put_documents takes, drawn from a stream
    that breaks after the first round
    WHEN they are put
    THEN nothing is stored; put again without the break, each id is stored once and
    the last copy of a repeated id wins."""
    cfg = Config(store=tmp_path / "store", jobs=1)
    _, index = _run(cfg, source_pdf, InThread())
    model = index.get_document(next(iter(index.find_by_sha256(intake.identify(source_pdf).sha256))))
    assert model is not None
    index.close()
    catalog = SqliteIndex(tmp_path / "other.sqlite")
    count = PUT_CHUNK * 2 + 5

    def stream(stop: bool):
        for n in range(count):
            if stop and n == PUT_CHUNK + 1:
                raise RuntimeError("the reader died")
            yield dataclasses.replace(model, id=f"doc-{n}", doc_type="decision")
        yield dataclasses.replace(model, id="doc-0", doc_type="birth_certificate")

    with pytest.raises(RuntimeError):
        catalog.put_documents(stream(stop=True))
    assert catalog.count_documents() == 0
    catalog.put_documents(stream(stop=False))
    assert catalog.count_documents() == count
    assert catalog.get_document("doc-0").doc_type == "birth_certificate"  # type: ignore[union-attr]
    assert catalog.get_document("doc-1").doc_type == "decision"  # type: ignore[union-attr]
