"""Explicit, versioned Elasticsearch mappings for the dossier indices.

Every index is `dynamic: strict` (an unknown field is an error, not a silent new
mapping) and carries `_meta.mapping_version`; raise MAPPING_VERSION whenever a mapping
changes, so an index written by another version is detected and rebuilt with
`dossier reindex`. Only core field types are used (no analysis plugin, no
unsigned_long), so the test distribution and the official image behave the same.
"""

from __future__ import annotations

from typing import Any

# 2: display-only fields not indexed, text without positions; 3: per-stage timing sums
# in flat fields instead of nested objects, the body as one JSON string; 4: fields only
# filtered on without doc values; 5: a document's pages inside its own record (no pages
# index), its link to its own dossier implied by dossier_id; 6: the body compressed; 7:
# fields only sorted or aggregated on without index terms
MAPPING_VERSION = 7

KEYWORD = {"type": "keyword"}
# Matched by term, terms or wildcard filters only (never sorted, aggregated or tested
# with exists): index terms, no doc values (less for the server to write per document).
FILTER_KEYWORD = {"type": "keyword", "doc_values": False}
# For values read from paper (LONG_*): an overlong one (a whole paragraph read as one
# field) is kept in _source but not indexed, instead of failing the document (Lucene's
# term limit).
LONG_FILTER_KEYWORD = {**FILTER_KEYWORD, "ignore_above": 4096}
# Stored in _source for display only: neither indexed nor searchable.
STORED_ONLY = {"type": "object", "enabled": False}
# Read back from _source, never searched, sorted or aggregated: no index terms, no doc
# values (less for the server to write per document in a bulk load).
SHOWN_KEYWORD = {"type": "keyword", "index": False, "doc_values": False}
SHOWN_INTEGER = {"type": "integer", "index": False, "doc_values": False}
# Only sorted, aggregated or summed (or, for has_pages, one range count): doc values, no
# index terms or points.
SORT_INTEGER = {"type": "integer", "index": False}
LONG_FACET_KEYWORD = {"type": "keyword", "index": False, "ignore_above": 4096}
SHOWN_FLOAT = {"type": "float", "index": False, "doc_values": False}
# Searched by terms, ranked by BM25 (term frequencies and norms): no phrase query or
# server-side highlight reads positions (highlights come from indexer.highlight).
SEARCH_TEXT = {"type": "text", "index_options": "freqs"}

DOCUMENTS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "id": KEYWORD,
        "sha256": KEYWORD,
        "source_path": SHOWN_KEYWORD,
        "media_type": SHOWN_KEYWORD,
        "first_page": SORT_INTEGER,
        "last_page": SHOWN_INTEGER,
        "doc_type": KEYWORD,
        "status": SHOWN_KEYWORD,
        "person_id": FILTER_KEYWORD,
        "doc_number": KEYWORD,
        "expiry_date": SHOWN_KEYWORD,
        # Values of every *id_number field: a citizen ID filter matches any of them; the
        # valid ones find a person's documents.
        "id_numbers": FILTER_KEYWORD,
        "valid_id_numbers": FILTER_KEYWORD,
        "reuse_kind": SHOWN_KEYWORD,
        # "name=value" for every field with a value: exact field filters by terms.
        "field_pairs": LONG_FILTER_KEYWORD,
        "main_date": {"type": "date", "format": "strict_date", "ignore_malformed": True},
        "year": {"type": "keyword", "index": False},
        "office": LONG_FACET_KEYWORD,  # (searched through office_folded)
        "office_folded": LONG_FILTER_KEYWORD,
        "dossier_id": FILTER_KEYWORD,
        "created_at": {"type": "date"},
        "seconds": SHOWN_FLOAT,  # document-level stages
        "total_seconds": SHOWN_FLOAT,  # every stage, pages included (None: no timing)
        # The original text (exact diacritics rank higher) and its folded, pre-tokenized
        # copy computed in Python with the same tokens as the SQLite backend.
        "text": SEARCH_TEXT,
        "text_folded": SEARCH_TEXT,
        # A re-scan (near reuse) carries the text of the paper it re-scans: one paper, one
        # hit. Its text is kept here, for display only, instead of in `text`.
        "display_text": {"type": "text", "index": False},
        # Per stage (a field named by indexer.elasticsearch.stage_key): how many timings
        # and their seconds summed, for the stats summed over documents. Flat fields, not
        # nested objects: each nested object is one more Lucene document to write.
        "stage_count": {"type": "object", "dynamic": "true"},
        "stage_seconds": {"type": "object", "dynamic": "true"},
        "valid_fields": STORED_ONLY,  # first valid value per field name, for search hits
        # The pages, inside their document: one Elasticsearch document per catalog document
        # (each one has a fixed cost to write: id look-up, version, translog, _source).
        # How many (summed by stats; has_pages asks for one above 0), and per reading
        # method (a field named by stage_key) how many, summed by stats.
        "page_count": SORT_INTEGER,
        "page_methods": {"type": "object", "dynamic": "true"},
        # Chunks (indexer.base.phash_chunks) of every page's hash, for the near-duplicate
        # terms look-up; the hashes themselves, one per page in order, in 16 hex digits
        # ("-": no hash). A stored field: the look-up reads it without parsing the whole
        # _source of thousands of candidates (the body is most of a document's bytes).
        "phash_chunks": {"type": "long", "doc_values": False},
        "page_phashes": {**SHOWN_KEYWORD, "store": True},
        # The whole Document in one string (indexer.elasticsearch.pack_body: its JSON,
        # compressed), the source of get_document: the server stores it without walking
        # thousands of tokens of words and boxes.
        "body": STORED_ONLY,
    },
    # Summed by aggregations only: doc values, no index terms.
    "dynamic_templates": [
        {
            "stage_count": {
                "path_match": "stage_count.*",
                "mapping": {"type": "long", "index": False},
            }
        },
        {
            "page_methods": {
                "path_match": "page_methods.*",
                "mapping": {"type": "long", "index": False},
            }
        },
        {
            "stage_seconds": {
                "path_match": "stage_seconds.*",
                "mapping": {"type": "double", "index": False},
            }
        },
    ],  # fmt: skip
}

FAILURES: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "path": KEYWORD,
        "sha256": KEYWORD,
        "reason": {"type": "keyword", "index": False},
        "at": {"type": "date"},
    },
}

DOSSIERS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "id": KEYWORD,
        "procedure": KEYWORD,
        "citizen_id": KEYWORD,
        "created_at": {"type": "date"},
    },
}

# Documents a dossier holds besides those submitted in it (reused from an earlier dossier,
# or stored before under another dossier): a document's own dossier is its dossier_id.
DOSSIER_DOCUMENTS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "dossier_id": KEYWORD,
        "document_id": KEYWORD,
        "status": KEYWORD,
        "reuse_kind": KEYWORD,
        "added_at": {"type": "date"},
    },
}

# The hash-chained reuse log (indexer.base.ReuseLogEntry); the id is the sequence number.
REUSE_LOG: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "seq": {"type": "long"},
        "at": KEYWORD,  # kept as written: the entry hash covers this exact string
        "document_id": KEYWORD,
        "kind": KEYWORD,
        "of": KEYWORD,
        "dossier_id": KEYWORD,
        "procedure": KEYWORD,
        "evidence": STORED_ONLY,
        "seconds": {"type": "double"},
        "baseline_seconds": {"type": "double"},
        "prev_hash": KEYWORD,
        "entry_hash": KEYWORD,
    },
}

CORRECTIONS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "document_id": KEYWORD,
        "name": KEYWORD,
        "old_value": {"type": "keyword", "index": False},
        "new_value": {"type": "keyword", "index": False},
        "user": KEYWORD,
        "at": KEYWORD,
        "seq": {"type": "long"},
    },
}

MAPPINGS: dict[str, dict[str, Any]] = {
    "documents": DOCUMENTS,
    "failures": FAILURES,
    "dossiers": DOSSIERS,
    "dossier_documents": DOSSIER_DOCUMENTS,
    "reuse_log": REUSE_LOG,
    "corrections": CORRECTIONS,
}

SETTINGS: dict[str, Any] = {
    "number_of_shards": 1,
    # One replica where a second node exists; none (a green cluster) on a single node.
    "auto_expand_replicas": "0-1",
}


def versioned(kind: str) -> dict[str, Any]:
    """The mapping of one index kind with its version stamp."""
    return {
        **MAPPINGS[kind],
        "_meta": {"app": "dossier", "kind": kind, "mapping_version": MAPPING_VERSION},
    }
