"""Intake: find the files to process, identify each by its bytes (media type sniffed,
never trusted from the extension; SHA-256), and refuse what cannot be a dossier page."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import filetype

from pipeline.errors import BadInputError, UnsupportedFileError
from pipeline.model import SourceFile

SUPPORTED_TYPES = {"image/png", "image/jpeg", "image/tiff", "application/pdf"}

# When walking a folder only these are considered; anything named explicitly is tried.
DOCUMENT_SUFFIXES = {".pdf", ".png", ".jpg", ".jpeg", ".jpe", ".tif", ".tiff"}

_READ_CHUNK = 1 << 20


def discover(paths: Iterable[Path]) -> Iterator[Path]:
    """Files named directly, and document-like files found recursively in folders, in a
    stable order (so progress and ids repeat run to run), each once. Hidden files are
    skipped."""
    seen: set[Path] = set()

    def once(path: Path) -> Iterator[Path]:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            yield path

    for path in paths:
        if not path.is_dir():
            yield from once(path)
            continue
        for root, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if not name.startswith(".") and Path(name).suffix.lower() in DOCUMENT_SUFFIXES:
                    yield from once(Path(root) / name)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_READ_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sniff(head: bytes) -> str | None:
    """Media type from the first bytes. PDF is looked for within the first KiB, as
    readers tolerate leading junk there."""
    if b"%PDF-" in head[:1024]:
        return "application/pdf"
    kind = filetype.guess(head)
    return kind.mime if kind else None


def describe(media_type: str | None) -> str:
    """A clerk's words for what a file really is."""
    if media_type is None:
        return "not a document image or PDF (unrecognised content)"
    if media_type.startswith("text/"):
        return "a text file, not a scan or PDF"
    if "executable" in media_type or media_type in {
        "application/x-elf",
        "application/x-msdownload",
    }:
        return "a program, not a scan or PDF"
    return f"a {media_type} file, which is not a supported scan format"


def identify(path: Path) -> SourceFile:
    """Hash and sniff one file; BadInputError with a clerk-readable reason if unusable."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(8192)
    except FileNotFoundError as exc:
        raise BadInputError(f"{path}: the file does not exist.") from exc
    except PermissionError as exc:
        raise BadInputError(
            f"{path}: the file cannot be read (permission denied).",
            hint="Ask for read access or copy it somewhere readable.",
        ) from exc
    except IsADirectoryError as exc:
        raise BadInputError(f"{path}: is a folder, not a file.") from exc
    except OSError as exc:
        raise BadInputError(f"{path}: the file cannot be read ({exc.strerror}).") from exc
    if size == 0:
        raise BadInputError(f"{path}: the file is empty (0 bytes).", hint="Scan it again.")
    media_type = sniff(head)
    if media_type not in SUPPORTED_TYPES:
        if media_type is None and text_like(head):
            media_type = "text/plain"
        raise UnsupportedFileError(
            f"{path}: {describe(media_type)}.",
            hint="Supported: PDF, PNG, JPEG, TIFF (scans or PDF files).",
        )
    return SourceFile(path=str(path), size=size, media_type=media_type, sha256=sha256_file(path))


def text_like(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\x00" not in head
