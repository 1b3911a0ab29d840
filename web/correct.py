"""An official's correction of a field: the typed value goes through the same normalizer
and validators as a value read by OCR (pipeline/normalize.py, pipeline/validate.py), then
the catalog stores it with who and when, keeping the old value."""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

from pipeline.errors import BadInputError, DossierError
from pipeline.model import Document
from pipeline.normalize import normalize
from pipeline.schemas import Schemas, load_schemas
from pipeline.validate import validate_fields


class CorrectionsUnsupported(DossierError):
    """The configured backend keeps no correction history."""


@dataclass
class Corrected:
    name: str
    old: str | None
    value: str
    valid: bool
    reason: str | None


@lru_cache(maxsize=1)
def _schemas() -> Schemas:
    return load_schemas()


def checked_value(doc: Document, name: str, typed: str) -> Corrected:
    """The typed value normalized like an extracted one, and whether it is valid in the
    context of the document's other fields (dates in order, ID matching birth date)."""
    typed = typed.strip()
    if not typed:
        raise BadInputError("The corrected value is empty.", hint="Type the value as printed.")
    if len(typed) > 500:
        raise BadInputError("The corrected value is longer than 500 characters.")
    schema = _schemas().types.get(doc.doc_type)
    spec = next((s for s in schema.fields if s.name == name), None) if schema else None
    kind = spec.normalizer if spec else "text"
    value, note = normalize(kind, typed)
    if value is None:
        raise BadInputError(f"{typed!r} cannot be read as a {kind}: {note or 'no value'}.")
    fields = copy.deepcopy(doc.fields)
    target = next((f for f in fields if f.name == name), None)
    if target is None:
        raise BadInputError(f"The document has no field {name!r}.")
    target.value, target.valid, target.reason = value, True, None
    if schema is not None:
        validate_fields(fields, schema, dt.date.today())
    old = next(f.value for f in doc.fields if f.name == name)
    return Corrected(name, old, value, target.valid, target.reason)


def apply_correction(index: object, doc: Document, name: str, typed: str, user: str) -> Corrected:
    """Check the value, then store it through the backend (which re-indexes the document)."""
    corrected = checked_value(doc, name, typed)
    correct = getattr(index, "correct_field", None)
    if correct is None:
        raise CorrectionsUnsupported("This search backend does not take corrections.")
    correct(doc.id, name, corrected.value, user, valid=corrected.valid, reason=corrected.reason)
    return corrected
