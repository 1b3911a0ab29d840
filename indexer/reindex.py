"""Copy a whole catalog from one backend to another (`dossier reindex`), without running
OCR again: documents with their pages, fields, timings and dossier links, dossiers,
set-aside files, and the hash-chained reuse log, which must come out as the same chain.

Idempotent and resumable: document ids come from content, so a rerun rewrites what an
interrupted run wrote; the reuse log continues after the entries the target already has
(after checking they are the same entries).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

from indexer.base import REUSE_COLUMNS, ReuseLogEntry, batches
from pipeline.errors import BackendError

# What an entry says; its place in the chain (seq, hashes) is the target's to compute.
_ENTRY_KEYS = tuple(k for k in REUSE_COLUMNS if k not in ("seq", "prev_hash", "entry_hash"))


def _replay(dst: Any, entry: ReuseLogEntry) -> None:
    """Append one source entry to the target's log; the hash must come out the same."""
    fields = {key: getattr(entry, key) for key in _ENTRY_KEYS}
    # An exact reuse put the stored document into the dossier (pipeline.batch); the
    # other kinds were written with their new document, which carries its dossier.
    link = (
        (entry.dossier_id, entry.document_id)
        if entry.kind == "exact" and entry.dossier_id
        else None
    )
    written = dst.link_reuse(fields, link)
    if written.seq != entry.seq or written.entry_hash != entry.entry_hash:
        raise BackendError(
            f"The reuse log entry {entry.seq} came out different in the target "
            f"(hash {written.entry_hash[:12]} instead of {entry.entry_hash[:12]}).",
            hint="Drop the target's indices or catalog and run the reindex again.",
        )


def copy_catalog(
    src: Any,
    dst: Any,
    *,
    batch_size: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Copy everything `src` holds into `dst` (both implement indexer.base.Index).
    Returns counts of what was copied."""
    target_log = dst.reuse_log()
    source_log = src.reuse_log()
    for have, want in zip(target_log, source_log, strict=False):
        if have.entry_hash != want.entry_hash:
            raise BackendError(
                f"The target's reuse log differs from the source's at entry {have.seq}.",
                hint="Reindex into an empty target (drop its indices or catalog first).",
            )
    if len(target_log) > len(source_log):
        raise BackendError(
            "The target's reuse log is longer than the source's: it is not a copy of it.",
            hint="Reindex into an empty target (drop its indices or catalog first).",
        )

    documents = 0
    # The target's bulk mode: Elasticsearch refreshes once when the documents are in (not
    # after every batch: each refresh cuts a segment to merge again), so the reuse log
    # replayed below finds them; SQLite builds its look-up indexes once at the end.
    # Batches of thousands: Elasticsearch overlaps sending a group with preparing the next.
    bulk_mode = getattr(dst, "bulk_mode", None)
    with bulk_mode() if bulk_mode is not None else nullcontext():
        for batch in batches(src.iter_documents(), batch_size):
            dst.put_documents(batch)
            documents += len(batch)
            if progress:
                progress(documents)

    dossiers = 0
    list_dossiers = getattr(src, "dossiers", None)
    if list_dossiers is not None:
        for dossier in list_dossiers():
            dst.put_dossier(dossier["id"], dossier.get("procedure"), dossier.get("citizen_id"))
            dossiers += 1

    failures = 0
    for failure in src.failures():
        dst.record_failure(failure["path"], failure.get("sha256") or None, failure["reason"])
        failures += 1

    for entry in source_log[len(target_log) :]:
        _replay(dst, entry)
    return {
        "documents": documents,
        "dossiers": dossiers,
        "failures": failures,
        "reuse_log": len(source_log) - len(target_log),
    }
