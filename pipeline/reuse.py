"""Reuse policy: when a submitted document is the same evidence as one on file.

DESIGN.md, "Reuse, precisely": exact (same bytes), near (a re-scan of the same paper,
proposed by the page hash and proved by pipeline.near), identity (same identity key,
still valid). A wrong reuse is the worst failure of this product, so every path proves
identity and refuses when in doubt. Backends only store and find; the rules live here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from indexer.base import GENESIS_HASH, ReuseLogEntry, reuse_entry_hash
from pipeline.errors import BadInputError, NotFoundError
from pipeline.model import Document, ReuseDecision
from pipeline.validate import check_personal_id

PROCEDURES_FILE = Path(__file__).parent / "data" / "procedures.yaml"


# -- dossiers and procedures -------------------------------------------------------------


@dataclass(frozen=True)
class Procedure:
    code: str
    name: str
    requires: tuple[str, ...]


@dataclass(frozen=True)
class DossierRequest:
    """A batch submitted for one citizen and procedure."""

    id: str
    procedure: str | None
    citizen_id: str | None


def load_procedures(path: Path = PROCEDURES_FILE) -> dict[str, Procedure]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {
        item["code"]: Procedure(item["code"], item["name"], tuple(item.get("requires", [])))
        for item in data.get("procedures", [])
    }


def procedure(code: str) -> Procedure:
    known = load_procedures()
    if code not in known:
        raise NotFoundError(
            f"Unknown procedure code {code!r}.",
            hint=f"Known codes: {', '.join(sorted(known))} (see 'dossier procedures').",
        )
    return known[code]


def check_citizen_id(citizen_id: str) -> str:
    """The personal ID number as digits, or a clear error (12 digits, real province)."""
    digits = citizen_id.strip()
    reason = None if digits.isdigit() and len(digits) == 12 else "it must be 12 digits"
    reason = reason or check_personal_id(digits)
    if reason:
        raise BadInputError(
            f"{citizen_id!r} is not a valid personal ID number: {reason}.",
            hint="Type the 12-digit number printed on the citizen identity card.",
        )
    return digits


def dossier_request(
    procedure_code: str | None, citizen_id: str | None, file_hashes: Iterable[str]
) -> DossierRequest:
    """Content-derived dossier id: the same files for the same citizen and procedure are
    the same dossier, so rerunning a batch creates nothing new."""
    basis = "|".join([procedure_code or "", citizen_id or "", *sorted(file_hashes)])
    return DossierRequest(
        id="D" + hashlib.sha256(basis.encode()).hexdigest()[:15],
        procedure=procedure_code,
        citizen_id=citizen_id,
    )


def dossier_for(
    paths: Iterable[Path], procedure_code: str | None, citizen_id: str | None
) -> DossierRequest:
    """Validate a dossier's procedure and citizen, and derive its id from the files."""
    from pipeline.intake import discover, sha256_file

    if procedure_code is not None:
        procedure(procedure_code)
    citizen = check_citizen_id(citizen_id) if citizen_id is not None else None
    hashes = []
    for path in discover(paths):
        try:
            hashes.append(sha256_file(path))
        except OSError:
            hashes.append(f"unreadable:{path}")  # the batch sets it aside with its reason
    return dossier_request(procedure_code, citizen, hashes)


# -- identity ----------------------------------------------------------------------------

IdentityKey = tuple[str, str, str | None]


def identity_key(doc: Document) -> IdentityKey | None:
    """(doc_type, person id number, doc_number) when every part is present and valid;
    a CCCD's number is the person's, so it has no separate doc_number (FIELDS.md)."""
    if doc.doc_type == "unknown":
        return None
    person = doc.person_id
    if not person:
        return None
    if doc.doc_type == "cccd":
        return (doc.doc_type, person, None)
    number = doc.field_value("doc_number")
    if not number:
        return None
    return (doc.doc_type, person, number)


def still_valid(doc: Document, today: dt.date) -> tuple[bool, str]:
    expiry = doc.field_value("expiry_date")
    if expiry and expiry < today.isoformat():
        return False, f"expired on {expiry}"
    return True, "valid"


def identity_reuse(
    doc: Document, stored_same_key: list[Document], today: dt.date
) -> ReuseDecision | None:
    """The stored document `doc` is the same evidence as, if any: the newest stored one
    with the same key (older ones are superseded by it), provided it is still valid."""
    key = identity_key(doc)
    if key is None:
        return None
    # A re-scan carries its original's reading: the original is the evidence, not it.
    candidates = [
        d
        for d in stored_same_key
        if d.id != doc.id and not (d.reuse and d.reuse.kind == "near") and identity_key(d) == key
    ]
    if not candidates:
        return None
    newest = candidates[0]  # the catalog returns newest first
    valid, reason = still_valid(newest, today)
    if not valid:
        return None
    if not still_valid(doc, today)[0]:
        return None
    return ReuseDecision(
        kind="identity",
        of=newest.id,
        evidence={
            "key": {"doc_type": key[0], "person_id": key[1], "doc_number": key[2]},
            "status_of_reused": reason,
            "superseded": [d.id for d in candidates[1:]],
        },
    )


# -- what is on file for a person ---------------------------------------------------------


@dataclass
class OnFile:
    citizen_id: str
    documents: list[dict[str, Any]] = field(default_factory=list)  # valid ones, newest first
    set_aside: list[dict[str, Any]] = field(default_factory=list)  # expired or superseded
    procedure: Procedure | None = None
    have: dict[str, str] = field(default_factory=dict)  # required type -> document id
    missing: list[str] = field(default_factory=list)


def on_file(
    documents: list[Document], citizen_id: str, proc: Procedure | None, today: dt.date
) -> OnFile:
    """Valid documents on file for a person, by type; for a procedure, which required
    types are already on file and which the citizen must still bring."""
    result = OnFile(citizen_id=citizen_id, procedure=proc)
    seen_keys: set[IdentityKey] = set()
    seen_aliases: set[str] = set()
    for doc in documents:  # newest first
        if doc.reuse and doc.reuse.kind == "near" and doc.reuse.of:
            seen_aliases.add(doc.reuse.of)  # a re-scan: list the paper once
        summary = {
            "id": doc.id,
            "doc_type": doc.doc_type,
            "doc_number": doc.field_value("doc_number"),
            "date": doc.main_date,
            "source": doc.source.path,
            "stored": doc.created_at,
        }
        key = identity_key(doc)
        valid, reason = still_valid(doc, today)
        if not valid:
            result.set_aside.append({**summary, "reason": reason})
            continue
        if key is not None and key in seen_keys:
            result.set_aside.append({**summary, "reason": "superseded by a newer document"})
            continue
        if doc.id in seen_aliases:
            continue
        if key is not None:
            seen_keys.add(key)
        result.documents.append(summary)
        if doc.doc_type != "unknown":
            result.have.setdefault(doc.doc_type, doc.id)
    if proc is not None:
        result.have = {t: i for t, i in result.have.items() if t in proc.requires}
        result.missing = [t for t in proc.requires if t not in result.have]
    return result


# -- the tamper-evident log ---------------------------------------------------------------


@dataclass
class LogVerification:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    problem: str | None = None


def verify_log(entries: list[ReuseLogEntry], head: tuple[int, str] | None) -> LogVerification:
    """Recompute the hash chain; name the first entry altered or removed."""
    previous = GENESIS_HASH
    expected_seq = 1
    for entry in entries:
        if entry.seq != expected_seq:
            return LogVerification(
                False, expected_seq - 1, expected_seq, f"entry {expected_seq} was removed"
            )
        if entry.prev_hash != previous:
            return LogVerification(
                False,
                expected_seq - 1,
                entry.seq,
                f"entry {entry.seq} does not follow entry {entry.seq - 1} (removed or altered)",
            )
        if reuse_entry_hash(entry) != entry.entry_hash:
            return LogVerification(
                False, expected_seq - 1, entry.seq, f"entry {entry.seq} was altered"
            )
        previous = entry.entry_hash
        expected_seq += 1
    count = expected_seq - 1
    if head is not None and (head[0] != count or head[1] != previous):
        if head[0] > count:
            problem = f"entries {count + 1} to {head[0]} were removed from the end"
            return LogVerification(False, count, count + 1, problem)
        return LogVerification(False, count, head[0], "the log head does not match the entries")
    if head is None and count:
        return LogVerification(False, count, 1, "the log head record is missing")
    return LogVerification(True, count)
