"""Assemble a document's searchable PDF: pages that had a usable text layer are copied
from the source PDF as they are; OCRed pages come from Tesseract's one-page PDFs (the
cleaned image with an invisible text layer)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PdfPagePart:
    """Where one page of the output comes from: page `index` of the PDF at `path`."""

    path: Path
    index: int = 0


def assemble(parts: list[PdfPagePart], destination: Path) -> None:
    """Write the pages in order to `destination` (the caller makes it atomic)."""
    # Imported here, not at the top: pypdf (with its cryptography provider, ~0.17 s)
    # is only needed once a document is complete, so `dossier ingest` reaches its first
    # page without it, and the page workers never load it.
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    readers: dict[Path, PdfReader] = {}
    for part in parts:
        reader = readers.get(part.path)
        if reader is None:
            reader = readers[part.path] = PdfReader(str(part.path))
        writer.add_page(reader.pages[part.index])
    with destination.open("wb") as handle:
        writer.write(handle)
