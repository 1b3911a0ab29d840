"""The store's files: originals (content-addressed), and per document its searchable
PDF, full text and JSON sidecar. Every file is written to a temporary name and renamed,
so a killed run never leaves half a file under a final name."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import orjson

from ocr.searchable import PdfPagePart, assemble
from pipeline.model import Document, SourceFile, document_from_dict

_SUFFIX = {
    "application/pdf": ".pdf",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/tiff": ".tif",
}


def _temporary_beside(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    return Path(name)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    temporary = _temporary_beside(path)
    try:
        with temporary.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def original_path(store: Path, source: SourceFile) -> Path:
    sha = source.sha256
    return store / "originals" / sha[:2] / f"{sha}{_SUFFIX.get(source.media_type, '')}"


def save_original(store: Path, source: SourceFile) -> Path:
    """Copy the file into the store under its hash (once: same hash, same bytes)."""
    destination = original_path(store, source)
    if destination.exists() and destination.stat().st_size == source.size:
        return destination
    temporary = _temporary_beside(destination)
    try:
        shutil.copyfile(source.path, temporary)
        os.replace(temporary, destination)
    finally:
        temporary.unlink(missing_ok=True)
    return destination


def document_dir(store: Path, doc_id: str) -> Path:
    return store / "documents" / doc_id


def work_dir(store: Path, sha256: str) -> Path:
    """Scratch space for one file's page parts; removed once its documents are stored."""
    return store / "work" / sha256[:16]


class Spill:
    """A file's documents, written out one JSON line each as they are finished and read
    back one at a time: what the catalog takes in one transaction at the end of a long
    file is never all in memory. Iterable again and again (e.g. into the pending list)."""

    def __init__(self, path: Path):
        self.path = path
        path.unlink(missing_ok=True)

    def add(self, doc: Document) -> None:
        with self.path.open("ab") as handle:
            handle.write(orjson.dumps(doc.to_dict()) + b"\n")

    def __iter__(self) -> Iterator[Document]:
        if not self.path.exists():
            return
        with self.path.open("rb") as handle:
            for line in handle:
                yield document_from_dict(orjson.loads(line))


def write_outputs(store: Path, doc: Document, parts: list[PdfPagePart]) -> dict[str, str]:
    """Searchable PDF, text and JSON sidecar of one document; returns their paths."""
    folder = document_dir(store, doc.id)
    folder.mkdir(parents=True, exist_ok=True)
    outputs = dict(doc.outputs)
    pdf_path = folder / "document.pdf"
    temporary = _temporary_beside(pdf_path)
    try:
        assemble(parts, temporary)
        os.replace(temporary, pdf_path)
    finally:
        temporary.unlink(missing_ok=True)
    text_path = folder / "text.txt"
    write_text_atomic(text_path, doc.text)
    outputs.update({"pdf": str(pdf_path), "text": str(text_path)})
    doc.outputs = outputs
    return write_sidecar(store, doc)


def write_sidecar(store: Path, doc: Document) -> dict[str, str]:
    """The document's JSON sidecar (everything the catalog knows about it)."""
    json_path = document_dir(store, doc.id) / "document.json"
    doc.outputs["json"] = str(json_path)
    # orjson: ~0.2 ms for a page's words where the json module took 4-7 ms.
    write_bytes_atomic(json_path, orjson.dumps(doc.to_dict(), option=orjson.OPT_INDENT_2))
    return doc.outputs


def comparison_path(store: Path, doc_id: str, page_index: int) -> Path:
    """The stored comparison image of a document's page (0-based), for near reuse
    (near.load_comparison reads it)."""
    return document_dir(store, doc_id) / f"compare-{page_index + 1:04d}.zst"


def stored_comparison(store: Path, doc_id: str, page_index: int) -> Path:
    """comparison_path, or the PNG that versions before the zstd format wrote there."""
    path = comparison_path(store, doc_id, page_index)
    legacy = path.with_suffix(".png")
    return legacy if not path.exists() and legacy.exists() else path


def keep_comparisons(store: Path, doc_id: str, parts: list[str | None]) -> None:
    """Move the pages' comparison images from the work folder into the document's."""
    for position, part in enumerate(parts):
        if part is not None and Path(part).exists():
            destination = comparison_path(store, doc_id, position)
            destination.parent.mkdir(parents=True, exist_ok=True)
            os.replace(part, destination)


def pending_dir(store: Path) -> Path:
    """Documents read but not yet accepted by the catalog (e.g. a search cluster down)."""
    return store / "pending"


def keep_pending(store: Path, sha256: str, docs: Iterable[Document], entries: list[dict]) -> Path:
    path = pending_dir(store) / f"{sha256[:16]}.json"
    data = {"documents": [doc.to_dict() for doc in docs], "reuse_entries": entries}
    write_text_atomic(path, json.dumps(data, ensure_ascii=False))
    return path


def pending(store: Path) -> Iterator[tuple[Path, list[Document], list[dict]]]:
    folder = pending_dir(store)
    if not folder.is_dir():
        return
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        docs = [document_from_dict(d) for d in data["documents"]]
        yield path, docs, data["reuse_entries"]
