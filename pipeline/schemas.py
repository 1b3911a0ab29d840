"""Document-type schemas as data: one YAML file per type, loaded and validated at start-up.

A new document type is a new file (built-in `pipeline/schemas/` or an extra directory);
no code changes. A malformed file stops start-up with a message naming the file and key.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipeline.errors import BadInputError

# libyaml's parser when PyYAML was built with it (same SafeConstructor, so the same data;
# ~9x faster: the 7 built-in schemas took ~40 ms a process in pure Python).
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

BUILTIN_DIR = Path(__file__).parent / "schemas"

NORMALIZERS = frozenset(
    {"text", "name", "date", "id_number", "doc_number", "sex", "area", "phone", "number", "place"}
)
VALIDATORS = frozenset({"personal_id", "id_number", "date", "expiry_date", "phone", "area"})
LOCATORS = frozenset({"label", "line"})
REGIONS = frozenset({"any", "header", "body", "footer"})


class SchemaError(BadInputError):
    """A schema file that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class Keyword:
    phrase: str
    weight: float = 1.0


@dataclass(frozen=True)
class FieldSpec:
    """How to find, normalize and check one field.

    locate="label": the value follows one of `labels` (same line, else next line).
    locate="line": the value is a line matching `line_pattern` (a regex over the folded,
    lower-cased line; its group `value`, else the whole match, is taken).
    """

    name: str
    labels: tuple[str, ...] = ()
    locate: str = "label"
    line_pattern: str | None = None
    continue_pattern: str | None = None  # lines just below in the same column that match it
    # continue a `line` value ("ỦY BAN NHÂN DÂN" / "TỈNH NGHỆ AN")
    select: str = "first"  # first | last match in the document
    region: str = "any"  # where a `line` match may be: header (top), body, footer (bottom)
    value_pattern: str | None = None  # regex over the raw value: its group `value` or match
    normalizer: str = "text"
    validator: str | None = None
    validator_args: Mapping[str, str] = field(default_factory=dict)
    multiline: bool = False  # a value may continue on the next line (long addresses)
    nth: int = 1  # the n-th value found for these labels, in reading order (two-person forms)
    case_sensitive: bool = False  # line_pattern sees letter case (names under a signature)
    after: str | None = None  # only search after a line containing this phrase (a section)


@dataclass(frozen=True)
class TypeSchema:
    doc_type: str
    title: str  # human name of the type
    titles: tuple[str, ...]  # the document's title line(s): a page whose top shows one opens it
    keywords: tuple[Keyword, ...]
    fields: tuple[FieldSpec, ...]
    order: tuple[tuple[str, str], ...] = ()  # (earlier, later) date fields
    min_score: float = 0.35
    source: str = ""


@dataclass(frozen=True)
class Schemas:
    types: Mapping[str, TypeSchema]

    def __iter__(self) -> Iterator[TypeSchema]:
        return iter(self.types.values())

    def __len__(self) -> int:
        return len(self.types)

    def __getitem__(self, doc_type: str) -> TypeSchema:
        return self.types[doc_type]

    def __contains__(self, doc_type: object) -> bool:
        return doc_type in self.types


_TYPE_KEYS = {"doc_type", "title", "titles", "keywords", "fields", "order", "min_score"}
_FIELD_KEYS = {
    "labels",
    "locate",
    "line_pattern",
    "continue_pattern",
    "select",
    "region",
    "value_pattern",
    "normalizer",
    "validator",
    "multiline",
    "nth",
    "case_sensitive",
    "after",
}
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def _fail(path: Path, message: str) -> SchemaError:
    return SchemaError(
        f"Schema file {path}: {message}.",
        hint="Fix or remove the file (see pipeline/schemas/*.yaml for the format).",
    )


def _str_list(path: Path, where: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise _fail(path, f"{where} must be a list of non-empty strings")
    return tuple(value)


def _regex(path: Path, where: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _fail(path, f"{where} must be a string (a regular expression)")
    try:
        re.compile(value)
    except re.error as exc:
        raise _fail(path, f"{where} is not a valid regular expression ({exc})") from None
    return value


def _parse_field(path: Path, name: Any, raw: Any) -> FieldSpec:
    if not isinstance(name, str) or not _NAME.match(name):
        raise _fail(path, f"field name {name!r} must be snake_case")
    where = f"fields.{name}"
    if not isinstance(raw, dict):
        raise _fail(path, f"{where} must be a mapping")
    unknown = set(raw) - _FIELD_KEYS
    if unknown:
        raise _fail(path, f"{where} has unknown keys {sorted(unknown)}")
    locate = raw.get("locate", "label")
    if locate not in LOCATORS:
        raise _fail(path, f"{where}.locate must be one of {sorted(LOCATORS)}")
    labels = _str_list(path, f"{where}.labels", raw["labels"]) if "labels" in raw else ()
    line_pattern = None
    if locate == "label" and not labels:
        raise _fail(path, f"{where} needs labels (or locate: line with a line_pattern)")
    if locate == "line":
        if "line_pattern" not in raw:
            raise _fail(path, f"{where} has locate: line but no line_pattern")
        line_pattern = _regex(path, f"{where}.line_pattern", raw["line_pattern"])
    continue_pattern = None
    if "continue_pattern" in raw:
        continue_pattern = _regex(path, f"{where}.continue_pattern", raw["continue_pattern"])
    value_pattern = None
    if "value_pattern" in raw:
        value_pattern = _regex(path, f"{where}.value_pattern", raw["value_pattern"])
    normalizer = raw.get("normalizer", "text")
    if normalizer not in NORMALIZERS:
        raise _fail(path, f"{where}.normalizer {normalizer!r} is not one of {sorted(NORMALIZERS)}")
    validator = raw.get("validator")
    args: dict[str, str] = {}
    if isinstance(validator, dict):
        args = {str(k): str(v) for k, v in validator.items() if k != "name"}
        validator = validator.get("name")
    if validator is not None and validator not in VALIDATORS:
        raise _fail(path, f"{where}.validator {validator!r} is not one of {sorted(VALIDATORS)}")
    select = raw.get("select", "first")
    if select not in ("first", "last"):
        raise _fail(path, f"{where}.select must be first or last")
    region = raw.get("region", "any")
    if region not in REGIONS:
        raise _fail(path, f"{where}.region must be one of {sorted(REGIONS)}")
    if not isinstance(raw.get("nth", 1), int) or raw.get("nth", 1) < 1:
        raise _fail(path, f"{where}.nth must be a positive integer")
    for key in ("multiline", "case_sensitive"):
        if not isinstance(raw.get(key, False), bool):
            raise _fail(path, f"{where}.{key} must be true or false")
    after = raw.get("after")
    if after is not None and not isinstance(after, str):
        raise _fail(path, f"{where}.after must be a string")
    return FieldSpec(
        name=name,
        labels=labels,
        locate=locate,
        line_pattern=line_pattern,
        continue_pattern=continue_pattern,
        select=select,
        region=region,
        value_pattern=value_pattern,
        normalizer=normalizer,
        validator=validator,
        validator_args=args,
        multiline=raw.get("multiline", False),
        nth=raw.get("nth", 1),
        case_sensitive=raw.get("case_sensitive", False),
        after=after,
    )


def parse_schema(path: Path, data: Any) -> TypeSchema:
    """Validate one parsed YAML document and build its TypeSchema."""
    if not isinstance(data, dict):
        raise _fail(path, "the top level must be a mapping")
    unknown = set(data) - _TYPE_KEYS
    if unknown:
        raise _fail(path, f"unknown keys {sorted(unknown)}")
    doc_type = data.get("doc_type")
    if not isinstance(doc_type, str) or not _NAME.match(doc_type) or doc_type == "unknown":
        raise _fail(path, "doc_type must be a snake_case name other than 'unknown'")
    titles = _str_list(path, "titles", data.get("titles"))
    keywords: list[Keyword] = []
    for i, kw in enumerate(data.get("keywords") or []):
        if isinstance(kw, str):
            keywords.append(Keyword(kw))
        elif isinstance(kw, dict) and isinstance(kw.get("phrase"), str):
            weight = kw.get("weight", 1.0)
            if not isinstance(weight, int | float) or weight <= 0:
                raise _fail(path, f"keywords[{i}].weight must be a positive number")
            keywords.append(Keyword(kw["phrase"], float(weight)))
        else:
            raise _fail(path, f"keywords[{i}] must be a phrase or {{phrase, weight}}")
    raw_fields = data.get("fields")
    if not isinstance(raw_fields, dict) or not raw_fields:
        raise _fail(path, "fields must be a non-empty mapping of field name to spec")
    fields_ = tuple(_parse_field(path, name, spec) for name, spec in raw_fields.items())
    names = {f.name for f in fields_}
    order: list[tuple[str, str]] = []
    for i, pair in enumerate(data.get("order") or []):
        if (
            not isinstance(pair, list)
            or len(pair) != 2
            or not all(isinstance(p, str) and p in names for p in pair)
        ):
            raise _fail(path, f"order[{i}] must be [earlier_field, later_field] of this schema")
        order.append((pair[0], pair[1]))
    for spec in fields_:
        for key, ref in spec.validator_args.items():
            if key.endswith("_field") and ref not in names:
                raise _fail(path, f"fields.{spec.name}.validator.{key} names unknown field {ref}")
    min_score = data.get("min_score", 0.35)
    if not isinstance(min_score, int | float) or not 0 < min_score <= 1:
        raise _fail(path, "min_score must be a number in (0, 1]")
    return TypeSchema(
        doc_type=doc_type,
        title=str(data.get("title") or doc_type),
        titles=titles,
        keywords=tuple(keywords),
        fields=fields_,
        order=tuple(order),
        min_score=float(min_score),
        source=str(path),
    )


def _load_yaml(text: str) -> Any:
    try:
        return yaml.load(text, Loader=_SafeLoader)  # noqa: S506 (a safe loader)
    except yaml.YAMLError:
        # Bad YAML: parsed again by the pure-Python loader, whose message quotes the line.
        return yaml.safe_load(text)


def load_schema_file(path: Path) -> TypeSchema:
    try:
        data = _load_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise _fail(path, f"not valid YAML ({exc})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(path, f"cannot be read ({exc})") from None
    return parse_schema(path, data)


def load_schemas(extra_dirs: Sequence[Path] = ()) -> Schemas:
    """The built-in schemas plus every *.yaml / *.yml in `extra_dirs`.

    A file in an extra directory that repeats a built-in doc_type replaces it (a site may
    tune a form); two files of one directory with the same doc_type are an error.
    """
    types: dict[str, TypeSchema] = {}
    for directory in (BUILTIN_DIR, *map(Path, extra_dirs)):
        if not directory.is_dir():
            raise SchemaError(
                f"Schema directory {directory} does not exist.",
                hint="Give an existing directory of *.yaml schema files.",
            )
        seen: dict[str, Path] = {}
        for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
            schema = load_schema_file(path)
            if schema.doc_type in seen:
                raise _fail(
                    path, f"doc_type {schema.doc_type} is also defined in {seen[schema.doc_type]}"
                )
            seen[schema.doc_type] = path
            types[schema.doc_type] = schema
    if not types:
        raise SchemaError("No document-type schemas found.", hint=f"Check {BUILTIN_DIR}.")
    return Schemas(types)
