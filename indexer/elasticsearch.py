"""The Elasticsearch catalog and search index: the same `Index` protocol as the SQLite
backend, for when one machine is not enough.

Indices `<prefix>-documents`, `-dossiers`, `-dossier_documents`, `-failures`, ... with
explicit, versioned mappings (indexer.es_mappings). A catalog document is one
Elasticsearch document: its pages (hashes and their chunks) live inside it, and its link
to its own dossier is its dossier_id (link documents only for other dossiers), so a bulk
load writes one server document per catalog document and a visible document always has
its pages. Writes are bulk requests (items refused as overloaded are sent again); ids
come from content (Document.id), so re-sending a batch creates no duplicates.
Search folds the query in Python exactly like the SQLite backend, and
highlights come from the shared highlighter, so both backends mark the same words.
"""

from __future__ import annotations

import base64
import gc
import hashlib
import logging
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from functools import lru_cache
from itertools import chain
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import unquote, urlsplit, urlunsplit

import elastic_transport
import orjson
from elasticsearch import (
    ApiError,
    AuthenticationException,
    AuthorizationException,
    Elasticsearch,
    OrjsonSerializer,
)

from indexer.base import (
    GENESIS_HASH,
    REUSE_COLUMNS,
    PageMatch,
    ReuseLogEntry,
    SearchHit,
    SearchQuery,
    SearchResult,
    apply_correction,
    batches,
    phash_chunks,
    reuse_entry_hash,
)
from indexer.es_mappings import MAPPING_VERSION, MAPPINGS, SETTINGS, versioned
from indexer.highlight import highlight, query_terms

# The same timestamps and document JSON as the reference backend.
from indexer.sqlite import _now, document_json_utf8, load_document
from pipeline.config import Config
from pipeline.errors import BackendError, BackendUnavailableError
from pipeline.model import Document
from pipeline.textnorm import fold

log = logging.getLogger(__name__)

# One bulk item (an index operation), serialized: its action line and its source line.
_Item = tuple[bytes, bytes]

BULK_DOCS = 500  # documents per bulk group (one request)
BULK_DEPTH = 2  # groups in flight at once inside bulk_mode()
BULK_RETRIES = 5  # sends of items refused with RETRY_STATUS, with back-off
BULK_MAX_BACKOFF = 30  # seconds
RETRY_STATUS = (429, 502, 503, 504)  # overloaded or restarting: worth another try
FACET_SIZE = 20
# Index settings for the length of a bulk load (restored after it).
BULK_SETTINGS = {"index.refresh_interval": "-1", "index.translog.durability": "async"}
PAGE_SIZE = 1000  # hits per search_after page when reading everything
NO_PHASH = "-"  # page_phashes' value for a page without a hash (a value: positions stay)


def split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """The URL without user:password@, and those credentials (a URL may carry them, but
    they must never be shown again)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None, None
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    clean = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    user = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    return clean, user, password


_WORD = re.compile(r"\w+", re.UNICODE)  # the tokens of indexer.highlight.query_terms


@lru_cache(maxsize=1 << 17)
def _word_terms(word: str) -> str:
    """One whitespace-separated word's folded terms: a catalog repeats a few thousand
    syllables, so each is folded and tokenized once."""
    return " ".join(_WORD.findall(fold(word)))


def folded_terms(text: str) -> str:
    """The folded, tokenized form both the index and the query use: the terms of
    query_terms(text), as SQLite's FTS sees them. Word by word (fold never crosses
    whitespace, and whitespace is no term character), each word's terms cached."""
    return " ".join(filter(None, map(_word_terms, text.split())))


@lru_cache(maxsize=4096)
def _fold_office(office: str) -> str:
    return fold(office)  # a catalog has a few hundred offices


_PLAIN_STAGE = re.compile(r"[a-z][a-z0-9_]*")


def stage_key(stage: str) -> str:
    """The field name of a stage under stage_count/stage_seconds: the name itself when it
    is a plain identifier, else "x-" and its UTF-8 bytes in hex (no dot, never empty)."""
    if _PLAIN_STAGE.fullmatch(stage):
        return stage
    return "x-" + stage.encode().hex()


def stage_name(key: str) -> str:
    """The stage a stage_key names."""
    return bytes.fromhex(key[2:]).decode() if key.startswith("x-") else key


def pack_body(doc: Document) -> str:
    """The stored form of a whole Document in the index: its JSON (as SQLite stores it),
    LZ4-compressed (with its size ahead) and in base64. A third of the bytes the server
    must parse, store and write to its translog, and no quote to escape on either side;
    LZ4 takes ~12 us a document where zlib takes ten times more."""
    from imagecodecs import lz4_encode  # (numpy with it: imported when first needed)

    body = document_json_utf8(doc)
    if isinstance(body, str):
        body = body.encode()
    return base64.b64encode(lz4_encode(body, header=True)).decode("ascii")


def unpack_body(body: str) -> Document:
    """The Document pack_body stored."""
    from imagecodecs import lz4_decode

    return load_document(lz4_decode(base64.b64decode(body), header=True))


def document_source(doc: Document) -> dict[str, Any]:
    """The indexed form of a document."""
    office = doc.office
    main_date = doc.main_date
    valid: dict[str, str] = {}
    for f in doc.fields:
        if f.valid and f.value is not None:
            valid.setdefault(f.name, f.value)
    text = doc.text
    counts: dict[str, int] = {}
    seconds: dict[str, float] = {}
    for t in doc.timings:
        key = stage_key(t.stage)
        counts[key] = counts.get(key, 0) + 1
        seconds[key] = seconds.get(key, 0.0) + t.seconds
    # A re-scan carries the text of the paper it re-scans: one paper, one search hit.
    searchable = not (doc.reuse and doc.reuse.kind == "near")
    hashes = [page.phash for page in doc.pages]
    methods: dict[str, int] = {}
    for page in doc.pages:
        key = stage_key(page.method)
        methods[key] = methods.get(key, 0) + 1
    return {
        "id": doc.id,
        "sha256": doc.source.sha256,
        "source_path": doc.source.path,
        "media_type": doc.source.media_type,
        "first_page": doc.first_page,
        "last_page": doc.last_page,
        "doc_type": doc.doc_type,
        "status": doc.status,
        "person_id": doc.person_id,
        "doc_number": doc.field_value("doc_number"),
        "expiry_date": doc.field_value("expiry_date"),
        "id_numbers": sorted(
            {f.value for f in doc.fields if f.value and f.name.endswith("id_number")}
        ),
        "valid_id_numbers": sorted(
            {f.value for f in doc.fields if f.value and f.valid and f.name.endswith("id_number")}
        ),
        "reuse_kind": doc.reuse.kind if doc.reuse else None,
        "field_pairs": sorted({f"{f.name}={f.value}" for f in doc.fields if f.value}),
        "main_date": main_date,
        "year": main_date[:4] if main_date else None,
        "office": office,
        "office_folded": _fold_office(office) if office else None,
        "dossier_id": doc.dossier_id,
        "created_at": doc.created_at,
        "seconds": sum(t.seconds for t in doc.timings if t.page is None),
        "total_seconds": sum(t.seconds for t in doc.timings) if doc.timings else None,
        "text": text if searchable else None,
        "text_folded": folded_terms(" ".join([text, *(f.value or "" for f in doc.fields)]))
        if searchable
        else None,
        "display_text": None if searchable else text,
        "stage_count": counts,
        "stage_seconds": seconds,
        "valid_fields": valid,
        "page_count": len(doc.pages),
        "page_methods": methods,
        "phash_chunks": [chunk for h in hashes if h is not None for chunk in phash_chunks(h)],
        "page_phashes": [NO_PHASH if h is None else f"{h:016x}" for h in hashes],
        # The whole Document in one string, which the server skips as one token.
        "body": pack_body(doc),
    }


class _Sender:
    """Bulk groups sent by a thread pool, at most `depth` in flight at once. A failed
    group's error is raised by the next submit or drain, once every group in flight has
    ended (none is left sending behind the caller's back)."""

    def __init__(self, depth: int):
        self.depth = depth
        self.pool = ThreadPoolExecutor(depth, thread_name_prefix="es-bulk")
        self.in_flight: deque[Future[Any]] = deque()

    def submit(self, send: Callable[..., Any], *args: Any) -> None:
        """Send a group once fewer than `depth` are in flight (the oldest acknowledged)."""
        if len(self.in_flight) == self.depth:
            self._acknowledge()
        self.in_flight.append(self.pool.submit(send, *args))

    def drain(self) -> None:
        """Wait until every group sent is acknowledged."""
        while self.in_flight:
            self._acknowledge()

    def _acknowledge(self) -> None:
        try:
            self.in_flight.popleft().result()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Let the groups in flight end (whatever their outcome), then stop the threads."""
        wait(self.in_flight)
        self.in_flight.clear()
        self.pool.shutdown()


def link_id(dossier_id: str, doc_id: str) -> str:
    """The id of the link document putting a document into a dossier."""
    return hashlib.sha1(f"{dossier_id}\0{doc_id}".encode()).hexdigest()


def _link(
    dossier_id: str, doc_id: str, status: str, kind: str | None, at: str | None
) -> tuple[str, dict[str, Any]]:
    """A link document (id, source) putting a document into a dossier."""
    source = {"dossier_id": dossier_id, "document_id": doc_id, "status": status,
              "reuse_kind": kind, "added_at": at or _now()}  # fmt: skip
    return link_id(dossier_id, doc_id), source


def _wildcard_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")


class ElasticsearchIndex:
    """The Index protocol over an Elasticsearch cluster."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "dossier",
        api_key: str | None = None,
        username: str | None = None,
        password: str | None = None,
        ca_file: str | None = None,
        request_timeout: float = 30.0,
        max_retries: int = 3,
        health_timeout: str = "20s",
    ):
        url, url_user, url_password = split_credentials(url)
        username = username or url_user
        password = password or url_password
        self.url = url  # never carries credentials: safe to show
        self.prefix = prefix
        self.health_timeout = health_timeout  # how long to wait for a yellow cluster
        self._secrets = [s for s in (api_key, password) if s]
        self.names = {kind: f"{prefix}-{kind}".replace("_", "-") for kind in MAPPINGS}
        self._json = OrjsonSerializer()
        self._loading: _Sender | None = None  # inside bulk_mode(): its groups in flight
        options: dict[str, Any] = {
            "serializers": {"application/json": self._json},  # orjson: 5-10x faster than json
            "request_timeout": request_timeout,
            "max_retries": max_retries,
            "retry_on_timeout": True,
            "retry_on_status": RETRY_STATUS,
        }
        if api_key:
            options["api_key"] = api_key
        elif username is not None:
            options["basic_auth"] = (username, password or "")
        if ca_file:
            if not Path(ca_file).is_file():
                raise BackendError(
                    f"The CA file {ca_file} does not exist.",
                    hint="Set DOSSIER_ES_CA_FILE to the cluster's CA certificate (PEM).",
                )
            options["ca_certs"] = ca_file
            options["verify_certs"] = True
        try:
            self.client = Elasticsearch(url, **options)
        except ValueError as exc:  # a malformed URL
            raise BackendError(
                f"The Elasticsearch URL {url!r} is not valid: {self._redact(str(exc))}.",
                hint="Use a URL such as http://127.0.0.1:9200 (DOSSIER_ES_URL).",
            ) from exc
        try:
            self._open()
        except BaseException:
            self.client.close()
            raise

    @classmethod
    def from_config(cls, cfg: Config, *, readonly: bool = False) -> ElasticsearchIndex:
        """The backend for a Config. `readonly` is accepted for symmetry with SQLite's
        worker connections: Elasticsearch needs no separate reader."""
        del readonly
        return cls(
            cfg.es_url,
            prefix=cfg.es_index_prefix,
            api_key=cfg.es_api_key,
            username=cfg.es_username,
            password=cfg.es_password,
            ca_file=cfg.es_ca_file,
        )

    # -- errors --------------------------------------------------------------------

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """Turn client exceptions into dossier errors with a message and no secret."""
        try:
            yield
        except AuthenticationException:
            raise BackendError(
                f"Elasticsearch at {self.url} rejected the credentials while {what} "
                "(HTTP 401: wrong password or API key).",
                hint="Check DOSSIER_ES_API_KEY, or DOSSIER_ES_USERNAME and DOSSIER_ES_PASSWORD.",
            ) from None
        except AuthorizationException as exc:
            raise BackendError(
                f"Elasticsearch at {self.url} does not allow this user: refused {what} "
                f"(HTTP 403: {self._redact(_reason(exc))}).",
                hint="Give the user or API key the privileges read, write, create_index and "
                f"view_index_metadata on the {self.prefix}-* indices, and monitor on the cluster.",
            ) from None
        except elastic_transport.TlsError as exc:
            raise BackendUnavailableError(
                f"The TLS connection to Elasticsearch at {self.url} failed while {what}: "
                f"{self._redact(_short(exc))}.",
                hint="Check DOSSIER_ES_CA_FILE (the cluster's CA certificate) and the URL.",
            ) from None
        except (elastic_transport.ConnectionError, elastic_transport.ConnectionTimeout) as exc:
            raise BackendUnavailableError(
                f"Elasticsearch at {self.url} cannot be reached while {what}: "
                f"{self._redact(_short(exc))}.",
                hint="Start it (make es-start) or check DOSSIER_ES_URL.",
            ) from None
        except ApiError as exc:
            raise BackendError(
                f"Elasticsearch at {self.url} refused {what} (HTTP {exc.meta.status}: "
                f"{self._redact(_reason(exc))}).",
            ) from None
        except elastic_transport.TransportError as exc:
            raise BackendUnavailableError(
                f"Elasticsearch at {self.url} failed while {what}: {self._redact(_short(exc))}."
            ) from None

    # -- opening: reachability, indices and their mapping versions, health ---------

    def _open(self) -> None:
        with self._errors("checking the cluster"):
            self.client.cluster.health(timeout="5s")
        with self._errors("checking the dossier indices"):
            # Every existing index is checked before any missing one is created, so a
            # version mismatch leaves nothing half set up.
            existing = {
                kind: name
                for kind, name in self.names.items()
                if self.client.indices.exists(index=name)
            }
            for name in existing.values():
                self._check_version(name)
        with self._errors("creating the dossier indices"):
            for kind, name in self.names.items():
                if kind not in existing:
                    self._create_index(kind, name)
        with self._errors("checking the health of the dossier indices"):
            health = self.client.options(request_timeout=60, ignore_status=408).cluster.health(
                index=list(self.names.values()),
                wait_for_status="yellow",
                timeout=self.health_timeout,
            )
        if health["status"] == "red":
            raise BackendError(
                f"The Elasticsearch cluster at {self.url} is red: a primary shard of the "
                f"{self.prefix}-* indices is not available, so writes would be lost.",
                hint="Check the cluster (GET _cluster/allocation/explain) and try again "
                "when it is yellow or green.",
            )

    def _create_index(self, kind: str, name: str) -> None:
        try:
            self.client.indices.create(index=name, settings=SETTINGS, mappings=versioned(kind))
        except ApiError as exc:
            if "resource_already_exists" not in str(exc):
                raise
            self._check_version(name)  # another process created it first

    def _check_version(self, name: str) -> None:
        mapping = self.client.indices.get_mapping(index=name)
        meta = next(iter(mapping.body.values()))["mappings"].get("_meta", {})
        found = meta.get("mapping_version")
        if found != MAPPING_VERSION:
            raise BackendError(
                f"The Elasticsearch index {name} has mapping version {found}, this dossier "
                f"uses version {MAPPING_VERSION}.",
                hint=f"Run `dossier reindex --to elasticsearch` to rebuild the {self.prefix}-* "
                "indices from the catalog.",
            )

    def close(self) -> None:
        self.client.close()

    def refresh(self) -> None:
        """Make every write so far visible to search."""
        with self._errors("refreshing the indices"):
            self.client.indices.refresh(index=list(self.names.values()))

    @contextmanager
    def bulk_mode(self) -> Iterator[None]:
        """For a large load (reindex, benchmarks): the written indices are not refreshed
        every second meanwhile (each refresh cuts a small segment that must be merged
        again), and their translog is synced every few seconds instead of on every bulk
        request; at the end they are refreshed and flushed once (then everything written
        is durable), and their settings restored, even on error. A crash during the load
        may lose its last seconds: a load is a copy, run again to complete it. A stored
        document re-sent under another dossier does not keep its link to the dossier it
        was stored under (put_documents reads that outside a bulk load only); a catalog's
        documents are sent once, under their dossier. put_documents does not refresh
        meanwhile, and keeps two groups in flight (BULK_DEPTH) from one call to the next
        (the server indexes the last groups of a call while the caller draws the next
        batch); they are acknowledged at the end, or their error raised."""
        names = [self.names["documents"]]
        bulk = BULK_SETTINGS
        with self._errors("preparing a bulk load"):
            found = self.client.indices.get_settings(
                index=names, name=list(bulk), flat_settings=True
            )
            # (a setting never set explicitly is left out of the answer: None resets it)
            before = {
                name: {key: found.get(name, {}).get("settings", {}).get(key) for key in bulk}
                for name in names
            }
            self.client.indices.put_settings(index=names, settings=bulk)
        self._loading = _Sender(BULK_DEPTH)
        try:
            yield
            self._loading.drain()
        finally:
            self._loading.close()  # (after an error, once the groups in flight have ended)
            self._loading = None
            with self._errors("ending a bulk load"):
                for name, settings in before.items():
                    self.client.indices.put_settings(index=name, settings=settings)
                self.client.indices.refresh(index=names)
                self.client.indices.flush(index=names)

    def drop(self) -> None:
        """Delete the dossier indices (reindex from scratch, tests)."""
        with self._errors("deleting the dossier indices"):
            self.client.indices.delete(
                index=list(self.names.values()), ignore_unavailable=True, allow_no_indices=True
            )

    # -- writes --------------------------------------------------------------------

    def _items(self, sources: Iterable[tuple[str, dict[str, Any]]]) -> list[_Item]:
        """Bulk items for (id, source) pairs: each serialized once, in the thread that
        prepares a group, and a retry resends the same bytes. The index is the request's,
        not each item's."""
        # (the client's serializer passes a str through as it is: orjson quotes the id)
        dumps = self._json.dumps
        return [
            (b'{"index":{"_id":%s}}' % orjson.dumps(id_), dumps(source)) for id_, source in sources
        ]

    def _send(self, kind: str, items: list[_Item], what: str, **params: Any) -> None:
        """Write bulk items into the index of `kind` in one request. Items refused as
        overloaded (RETRY_STATUS), or the whole request refused with 429, are sent again
        with back-off, up to BULK_RETRIES times (the transport retries connection errors
        and 5xx itself). Any other failed item is an error: the caller keeps the documents
        to send again."""
        for attempt in range(BULK_RETRIES + 1):
            if attempt:
                time.sleep(min(BULK_MAX_BACKOFF, 2 ** (attempt - 1)))
            retry = attempt < BULK_RETRIES
            with self._errors(what):
                try:
                    response = self.client.bulk(
                        index=self.names[kind],
                        operations=b"\n".join(chain.from_iterable(items)) + b"\n",
                        filter_path="errors,items.*._id,items.*.status,items.*.error",
                        **params,
                    )
                except ApiError as exc:
                    if retry and exc.meta.status == 429:
                        continue
                    raise
            if not response["errors"]:
                return
            results = [next(iter(item.values())) for item in response["items"]]
            failed = [r for r in results if r["status"] >= 300]
            if retry and all(r["status"] in RETRY_STATUS for r in failed):
                items = [i for i, r in zip(items, results, strict=True) if r["status"] >= 300]
                continue
            self._refused(what, [r for r in failed if r["status"] not in RETRY_STATUS] or failed)

    def _refused(self, what: str, failed: list[dict[str, Any]]) -> NoReturn:
        errors = [
            f"{r.get('_id')}: {r.get('error', {}).get('type')}: {r.get('error', {}).get('reason')}"
            for r in failed
        ]
        hint = None
        if any("strict_dynamic_mapping" in e or "mapper_parsing" in e for e in errors):
            hint = "The index mapping does not match this dossier: run `dossier reindex`."
        raise BackendError(
            f"Elasticsearch refused {len(errors)} item(s) while {what}: "
            f"{self._redact('; '.join(errors[:3]))}.",
            hint=hint,
        )

    def put_documents(
        self,
        docs: Iterable[Document],
        reuse_entries: Iterable[dict[str, Any]] = (),
        *,
        refresh: bool = True,
    ) -> int:
        """Write documents in bulk (their pages inside them), in groups; then the reuse
        decisions about them. Idempotent (ids from content); returns the number of
        documents taken, all acknowledged on return (inside bulk_mode: at its end at the
        latest). On an error nothing is left in flight, and the caller keeps every
        document to send again."""
        # Groups overlap: this thread draws and serializes the next group while sender
        # threads have the server index the ones before (client and server CPU side by
        # side). Outside a bulk load one group is in flight: when the input is drawn past
        # group k+1, group k is acknowledged (what a caller killed mid-stream can rely
        # on). A bulk load (a copy, run again after a crash) keeps two in flight, so the
        # server's write threads use both cores instead of one.
        sender = self._loading or _Sender(1)
        keep_links = self._loading is None  # see _kept_links
        taken = 0
        # In a bulk load the cyclic garbage collector is paused for the call: its full
        # passes walk every live object (a batch is hundreds of thousands of words and
        # boxes) yet find nothing to free, since bulk items form no cycles; ~20 % of the
        # client's CPU. Reference counting still frees everything; the collector is back on
        # return, even on error.
        paused = self._loading is not None and gc.isenabled()
        if paused:
            gc.disable()
        try:
            for group in batches(docs, BULK_DOCS):
                dossiers = {doc.id: doc.dossier_id for doc in group} if keep_links else {}
                sender.submit(self._send_group, dossiers, self._prepare_group(group))
                taken += len(group)
            if sender is not self._loading or reuse_entries:
                sender.drain()  # (the decisions are about documents written)
        finally:
            if paused:
                gc.enable()
            if sender is not self._loading:
                sender.close()
        if refresh and self._loading is None:
            self.refresh()
        for entry in reuse_entries:
            self.append_reuse(entry)
        return taken

    def _prepare_group(self, docs: list[Document]) -> list[_Item]:
        """The bulk items of a group's documents."""
        for doc in docs:
            if doc.created_at is None:
                doc.created_at = _now()
        return self._items((doc.id, document_source(doc)) for doc in docs)

    def _send_group(self, dossiers: dict[str, str | None], items: list[_Item]) -> None:
        """Write one prepared group: the links that keep replaced documents in the
        dossiers they were stored under (when `dossiers`, each document's new one, is
        given), acknowledged before the documents that replace them."""
        if dossiers and (links := self._kept_links(dossiers)):
            self._send("dossier_documents", self._items(links), "linking documents to dossiers")
        self._send("documents", items, "writing documents")

    def _kept_links(self, dossiers: dict[str, str | None]) -> list[tuple[str, dict[str, Any]]]:
        """Links (id, source) for stored documents about to be written again under another
        dossier: a document's own dossier is implied by its dossier_id, which the new
        version replaces, yet the document stays in the old dossier too (as in SQLite)."""
        with self._errors("reading stored documents"):
            got = self.client.mget(
                index=self.names["documents"],
                ids=list(dossiers),
                source_includes=["dossier_id", "status", "reuse_kind", "created_at"],
            )
        links = []
        for stored in got["docs"]:
            src = stored.get("_source") or {}
            if src.get("dossier_id") not in (None, dossiers[stored["_id"]]):
                links.append(
                    _link(src["dossier_id"], stored["_id"], src["status"],
                          src.get("reuse_kind"), src["created_at"])
                )  # fmt: skip
        return links

    def put_document(self, doc: Document) -> None:
        """Insert or replace one document with its pages; visible to search on return."""
        self.put_documents([doc], refresh=True)

    # -- reads ---------------------------------------------------------------------

    def find_by_sha256(self, sha256: str) -> list[str]:
        with self._errors("looking up a file hash"):
            found = self.client.search(
                index=self.names["documents"],
                query={"term": {"sha256": sha256}},
                sort=[{"first_page": "asc"}],
                size=1000,
                source=False,
            )
        return [hit["_id"] for hit in found["hits"]["hits"]]

    def get_document(self, doc_id: str) -> Document | None:
        with self._errors("reading a document"):
            got = self.client.options(ignore_status=404).get(
                index=self.names["documents"], id=doc_id, source_includes=["body"]
            )
            if got.get("found"):
                return unpack_body(got["_source"]["body"])
            # Accept an unambiguous id prefix, as clerks copy short ids.
            found = self.client.search(
                index=self.names["documents"],
                query={"prefix": {"id": doc_id}},
                size=2,
                source_includes=["body"],
            )
        hits = found["hits"]["hits"]
        if len(hits) != 1 or not doc_id:
            return None
        return unpack_body(hits[0]["_source"]["body"])

    def iter_documents(self, page_size: int = 500) -> Iterator[Document]:
        """Every document, oldest first, in pages of `page_size` (search_after)."""
        after: list[Any] | None = None
        while True:
            with self._errors("reading documents"):
                found = self.client.search(
                    index=self.names["documents"],
                    query={"match_all": {}},
                    sort=[{"created_at": "asc"}, {"id": "asc"}],
                    size=page_size,
                    source_includes=["body"],
                    search_after=after,
                )
            hits = found["hits"]["hits"]
            for hit in hits:
                yield unpack_body(hit["_source"]["body"])
            if len(hits) < page_size:
                return
            after = hits[-1]["sort"]

    def count_documents(self) -> int:
        return self._count("documents")

    def _count(self, kind: str) -> int:
        with self._errors(f"counting {kind.replace('_', ' ')}"):
            return int(self.client.count(index=self.names[kind])["count"])

    def has_pages(self) -> bool:
        with self._errors("counting pages"):
            found = self.client.count(
                index=self.names["documents"], query={"range": {"page_count": {"gt": 0}}}
            )
        return found["count"] > 0

    def _all_hits(
        self, index: str, query: dict[str, Any], sort: list[Any], **params: Any
    ) -> Iterator[dict[str, Any]]:
        """Every hit of a query, in `sort` order, page by page (search_after)."""
        after: list[Any] | None = None
        while True:
            with self._errors("reading the catalog"):
                found = self.client.search(
                    index=index, query=query, sort=sort, size=PAGE_SIZE, search_after=after,
                    **params,
                )  # fmt: skip
            hits = found["hits"]["hits"]
            yield from hits
            if len(hits) < PAGE_SIZE:
                return
            after = hits[-1]["sort"]

    # -- identity and people -------------------------------------------------------

    # Newest first, as SQLite's ORDER BY COALESCE(main_date, '') DESC, created_at DESC.
    _NEWEST = [
        {"main_date": {"order": "desc", "missing": "_last"}},
        {"created_at": "desc"},
        {"id": "asc"},
    ]

    def _documents(self, query: dict[str, Any]) -> list[Document]:
        hits = self._all_hits(
            self.names["documents"], query, self._NEWEST, source_includes=["body"]
        )
        return [unpack_body(hit["_source"]["body"]) for hit in hits]

    def find_by_identity(
        self, doc_type: str, person_id: str, doc_number: str | None
    ) -> list[Document]:
        """Stored documents with this identity key (FIELDS.md), newest first."""
        clauses: list[dict[str, Any]] = [
            {"term": {"doc_type": doc_type}},
            {"term": {"person_id": person_id}},
        ]
        query: dict[str, Any] = {"filter": clauses}
        if doc_number is None:
            query["must_not"] = [{"exists": {"field": "doc_number"}}]
        else:
            clauses.append({"term": {"doc_number": doc_number}})
        return self._documents({"bool": query})

    def documents_of_person(self, person_id: str) -> list[Document]:
        """Every stored document about this personal ID number, newest first."""
        return self._documents({"bool": {"should": [
            {"term": {"person_id": person_id}},
            {"term": {"valid_id_numbers": person_id}},
        ], "minimum_should_match": 1}})  # fmt: skip

    def processing_seconds(self, doc_id: str) -> float | None:
        """Measured processing time of a stored document, every stage summed."""
        with self._errors("reading a document's timings"):
            got = self.client.options(ignore_status=404).get(
                index=self.names["documents"], id=doc_id, source_includes=["total_seconds"]
            )
        if not got.get("found"):
            return None
        return got["_source"].get("total_seconds")

    # -- dossiers ------------------------------------------------------------------

    def put_dossier(self, dossier_id: str, procedure: str | None, citizen_id: str | None) -> None:
        """Register a dossier once; a second call keeps the first registration."""
        with self._errors("registering a dossier"):
            self.client.options(ignore_status=409).create(
                index=self.names["dossiers"],
                id=dossier_id,
                document={"id": dossier_id, "procedure": procedure, "citizen_id": citizen_id,
                          "created_at": _now()},
                refresh=True,
            )  # fmt: skip

    def dossiers(self) -> list[dict[str, Any]]:
        """Every registered dossier, oldest first (what `reindex` copies)."""
        hits = self._all_hits(
            self.names["dossiers"], {"match_all": {}}, [{"created_at": "asc"}, {"id": "asc"}]
        )
        keys = ("id", "procedure", "citizen_id", "created_at")
        return [{key: hit["_source"].get(key) for key in keys} for hit in hits]

    def dossier_has(self, dossier_id: str, doc_id: str) -> bool:
        """Whether the document is in the dossier: its own (dossier_id) or linked."""
        with self._errors("reading a dossier"):
            link, doc = self.client.mget(
                docs=[
                    {
                        "_index": self.names["dossier_documents"],
                        "_id": link_id(dossier_id, doc_id),
                        "_source": False,
                    },
                    {"_index": self.names["documents"], "_id": doc_id, "_source": ["dossier_id"]},
                ]  # fmt: skip
            )["docs"]
        own = (doc.get("_source") or {}).get("dossier_id")
        return bool(link.get("found")) or own == dossier_id

    def dossiers_of(self, doc_id: str) -> list[str]:
        """The dossiers holding a document, in the order it entered them."""
        with self._errors("reading a document's dossiers"):
            got = self.client.options(ignore_status=404).get(
                index=self.names["documents"],
                id=doc_id,
                source_includes=["dossier_id", "created_at"],
            )
        src = got.get("_source") or {}
        own = {doc_id: (src["created_at"], src["dossier_id"])} if src.get("dossier_id") else {}
        return [dossier for _, dossier in self._dossier_entries([doc_id], own).get(doc_id, [])]

    def _dossier_entries(
        self, doc_ids: list[str], own: dict[str, tuple[str, str]]
    ) -> dict[str, list[tuple[str, str]]]:
        """For each of these documents (`own`: its created_at and own dossier, if it has
        one), every dossier holding it as (added_at, dossier_id), oldest first, each
        dossier once (ISO strings compared as SQLite compares them)."""
        entries = {doc_id: [own[doc_id]] for doc_id in doc_ids if doc_id in own}
        for hit in self._all_hits(
            self.names["dossier_documents"],
            {"terms": {"document_id": doc_ids}},
            [{"added_at": "asc"}, {"dossier_id": "asc"}],
        ):
            src = hit["_source"]
            entries.setdefault(src["document_id"], []).append((src["added_at"], src["dossier_id"]))
        for doc_id, found in entries.items():
            first: dict[str, str] = {}
            for added_at, dossier in sorted(found):
                first.setdefault(dossier, added_at)
            entries[doc_id] = sorted((added_at, dossier) for dossier, added_at in first.items())
        return entries

    # -- the reuse log -------------------------------------------------------------

    def link_reuse(self, entry: dict[str, Any], link: tuple[str, str] | None) -> ReuseLogEntry:
        """Link a reused document into a dossier, then append the decision to the
        hash-chained log (Elasticsearch has no transactions: the link is idempotent, so a
        retry after a failure between the two writes repeats nothing)."""
        if link is not None:
            dossier_id, doc_id = link
            self._send(
                "dossier_documents",
                self._items([_link(dossier_id, doc_id, "reused", entry["kind"], None)]),
                "linking a reused document",
                refresh=True,
            )
        return self.append_reuse(entry)

    def _head(self) -> tuple[int, str]:
        """The last entry's (seq, hash), or (0, genesis). Search finds the newest entry
        it can see; realtime gets then walk past entries not yet refreshed."""
        with self._errors("reading the reuse log"):
            found = self.client.search(
                index=self.names["reuse_log"],
                query={"match_all": {}},
                sort=[{"seq": "desc"}],
                size=1,
                source_includes=["seq", "entry_hash"],
            )
            hits = found["hits"]["hits"]
            seq, entry_hash = (
                (hits[0]["_source"]["seq"], hits[0]["_source"]["entry_hash"])
                if hits
                else (0, GENESIS_HASH)
            )
            while True:
                got = self.client.options(ignore_status=404).get(
                    index=self.names["reuse_log"], id=str(seq + 1), source_includes=["entry_hash"]
                )
                if not got.get("found"):
                    return seq, entry_hash
                seq, entry_hash = seq + 1, got["_source"]["entry_hash"]

    def append_reuse(self, entry: dict[str, Any]) -> ReuseLogEntry:
        """Append one entry to the chain. The sequence number is the id and is created,
        never overwritten: a concurrent writer makes this one re-read the head and retry."""
        for _ in range(20):
            seq, prev_hash = self._head()
            record = {**entry, "seq": seq + 1, "at": entry.get("at") or _now(),
                      "prev_hash": prev_hash}  # fmt: skip
            record["entry_hash"] = reuse_entry_hash(record)
            source = {key: record.get(key) for key in REUSE_COLUMNS}
            source["evidence"] = source["evidence"] or {}
            with self._errors("appending to the reuse log"):
                created = self.client.options(ignore_status=409).create(
                    index=self.names["reuse_log"], id=str(seq + 1), document=source, refresh=True
                )
            if created.meta.status != 409:
                return ReuseLogEntry(**source)
        raise BackendError("The reuse log is being appended by too many writers at once.")

    def reuse_log(
        self, since: str | None = None, until: str | None = None, document: str | None = None
    ) -> list[ReuseLogEntry]:
        bounds = {"gte": since or "", "lte": until or "9999"}  # the ISO strings, as SQLite
        query: dict[str, Any] = {"range": {"at": bounds}}
        if document is not None:  # one document's history: submitted as it, or reusing it
            either = [{"term": {"document_id": document}}, {"term": {"of": document}}]
            query = {"bool": {"filter": [query, {"bool": {"should": either}}]}}
        hits = self._all_hits(self.names["reuse_log"], query, [{"seq": "asc"}])
        entries = []
        for hit in hits:
            values = {key: hit["_source"].get(key) for key in REUSE_COLUMNS}
            values["evidence"] = values["evidence"] or {}
            entries.append(ReuseLogEntry(**values))
        return entries

    def reuse_log_head(self) -> tuple[int, str] | None:
        seq, entry_hash = self._head()
        return None if seq == 0 else (seq, entry_hash)

    # -- processing records for reports ---------------------------------------------

    def processed_documents(
        self, since: str | None = None, until: str | None = None
    ) -> list[dict[str, Any]]:
        """Documents stored in [since, until] with their measured processing time and the
        procedure of the first dossier they entered."""
        bounds: dict[str, Any] = {}
        if since:
            bounds["gte"] = since
        if until:
            # SQLite compares the ISO strings: a bare date as upper bound ends before that
            # day starts, where Elasticsearch's lte would round up to its last millisecond.
            bounds["lt" if len(until) == 10 else "lte"] = until
        query = {"range": {"created_at": bounds}} if bounds else {"match_all": {}}
        rows = []
        own: dict[str, tuple[str, str]] = {}  # id: (created_at, own dossier)
        for hit in self._all_hits(
            self.names["documents"],
            query,
            [{"created_at": "asc"}, {"id": "asc"}],
            source_includes=[
                "doc_type",
                "status",
                "created_at",
                "first_page",
                "last_page",
                "total_seconds",
                "reuse_kind",
                "dossier_id",
            ],
        ):
            src = hit["_source"]
            rows.append({
                "id": hit["_id"],
                "doc_type": src["doc_type"],
                "status": src["status"],
                "at": src["created_at"],
                "first_page": src["first_page"],
                "last_page": src["last_page"],
                "seconds": src.get("total_seconds"),
                "procedure": None,
                "reuse_kind": src.get("reuse_kind"),
            })  # fmt: skip
            if src.get("dossier_id"):
                own[hit["_id"]] = (src["created_at"], src["dossier_id"])
        for start in range(0, len(rows), PAGE_SIZE):
            chunk = {row["id"]: row for row in rows[start : start + PAGE_SIZE]}
            first_dossier = {
                doc_id: entries[0][1]
                for doc_id, entries in self._dossier_entries(list(chunk), own).items()
            }
            if not first_dossier:
                continue
            with self._errors("reading dossiers"):
                got = self.client.mget(
                    index=self.names["dossiers"], ids=sorted(set(first_dossier.values()))
                )
            procedures = {
                d["_id"]: d["_source"]["procedure"] for d in got["docs"] if d.get("found")
            }
            for doc_id, dossier_id in first_dossier.items():
                chunk[doc_id]["procedure"] = procedures.get(dossier_id)
        return rows

    # -- corrections (an official fixes a field through the web interface) ------------

    def correct_field(
        self,
        doc_id: str,
        name: str,
        value: str,
        user: str,
        *,
        valid: bool = True,
        reason: str | None = None,
    ) -> str | None:
        """Set a field to a value typed by `user`, re-index the document and keep the old
        value with who and when. Returns the old value."""
        from pipeline.errors import NotFoundError

        doc = self.get_document(doc_id)
        if doc is None or doc.id != doc_id:
            raise NotFoundError(f"No document with id {doc_id!r}.")
        old = apply_correction(doc, name, value, valid=valid, reason=reason)
        self.put_documents([doc])
        record = {
            "document_id": doc_id,
            "name": name,
            "old_value": old,
            "new_value": value,
            "user": user,
            "at": _now(),
            "seq": self._count("corrections") + 1,
        }  # fmt: skip  (1, 2, ... as SQLite)
        with self._errors("recording a correction"):
            self.client.index(index=self.names["corrections"], document=record, refresh=True)
        return old

    def corrections(self, doc_id: str) -> list[dict[str, Any]]:
        """The corrections of a document, oldest first."""
        hits = self._all_hits(
            self.names["corrections"], {"term": {"document_id": doc_id}}, [{"seq": "asc"}]
        )
        keys = ("seq", "name", "old_value", "new_value", "user", "at")
        return [{key: hit["_source"][key] for key in keys} for hit in hits]

    # -- failures ------------------------------------------------------------------

    def _failure_id(self, path: str, sha256: str | None) -> str:
        return hashlib.sha1(f"{path}\0{sha256 or ''}".encode()).hexdigest()

    def record_failure(self, path: str, sha256: str | None, reason: str) -> None:
        with self._errors("recording a failed file"):
            self.client.index(
                index=self.names["failures"],
                id=self._failure_id(path, sha256),
                document={"path": path, "sha256": sha256 or "", "reason": reason, "at": _now()},
                refresh=True,
            )

    def clear_failure(self, path: str) -> None:
        with self._errors("clearing a failed file"):
            found = self.client.search(
                index=self.names["failures"],
                query={"term": {"path": path}},
                size=1000,
                source=False,
            )
            for hit in found["hits"]["hits"]:
                self.client.options(ignore_status=404).delete(
                    index=self.names["failures"], id=hit["_id"], refresh=True
                )

    def failures(self) -> list[dict[str, str]]:
        with self._errors("listing failed files"):
            found = self.client.search(
                index=self.names["failures"],
                query={"match_all": {}},
                sort=[{"at": "asc"}, {"path": "asc"}],
                size=10_000,
            )
        return [
            {k: hit["_source"][k] for k in ("path", "sha256", "reason", "at")}
            for hit in found["hits"]["hits"]
        ]

    # -- near-duplicate candidates -------------------------------------------------

    def find_pages_by_phash(self, phash: int, max_distance: int) -> list[PageMatch]:
        """Stored pages within `max_distance` bits: candidates by a terms query on the
        hash chunks (pigeonhole), then the exact distance of each page of a candidate
        document that shares a chunk itself (the pages SQLite's chunk index proposes)."""
        chunks = phash_chunks(phash)
        with self._errors("looking up similar pages"):
            found = self.client.search(
                index=self.names["documents"],
                query={"terms": {"phash_chunks": chunks}},
                size=10_000,
                source=False,
                stored_fields=["page_phashes"],
            )
        wanted = set(chunks)
        matches = []
        for hit in found["hits"]["hits"]:
            for position, stored in enumerate(hit.get("fields", {}).get("page_phashes", [])):
                if stored == NO_PHASH:
                    continue
                value = int(stored, 16)
                distance = (value ^ phash).bit_count()
                if distance <= max_distance and not wanted.isdisjoint(phash_chunks(value)):
                    matches.append(PageMatch(hit["_id"], position, value, distance))
        return sorted(matches, key=lambda m: (m.distance, m.document_id, m.page_index))

    # -- search --------------------------------------------------------------------

    def _filters(self, query: SearchQuery) -> list[dict[str, Any]]:
        filters: list[dict[str, Any]] = []
        if query.doc_type:
            filters.append({"term": {"doc_type": query.doc_type}})
        if query.citizen_id:
            filters.append(
                {
                    "bool": {
                        "should": [
                            {"term": {"person_id": query.citizen_id}},
                            {"term": {"id_numbers": query.citizen_id}},
                        ],
                        "minimum_should_match": 1,
                    }
                }
            )
        for name, value in sorted(query.fields.items()):
            filters.append({"term": {"field_pairs": f"{name}={value}"}})
        if query.date_from or query.date_to:
            bounds = {"format": "strict_date"}
            if query.date_from:
                bounds["gte"] = query.date_from
            if query.date_to:
                bounds["lte"] = query.date_to
            filters.append({"range": {"main_date": bounds}})
        if query.office:
            filters.append(
                {
                    "wildcard": {
                        "office_folded": {"value": f"*{_wildcard_escape(fold(query.office))}*"}
                    }
                }
            )
        if query.dossier:
            filters.append({"term": {"dossier_id": query.dossier}})
        return filters

    def search(self, query: SearchQuery) -> SearchResult:
        terms = query_terms(query.text)
        if query.text.strip() and not terms:
            return SearchResult(total=0, hits=[])  # only punctuation: nothing can match
        bool_query: dict[str, Any] = {"filter": self._filters(query)}
        if terms:
            # Every folded term must occur; the unfolded text ranks exact diacritics higher.
            bool_query["must"] = [
                {
                    "multi_match": {
                        "query": " ".join(terms),
                        "fields": ["text_folded", "text"],
                        "type": "cross_fields",
                        "operator": "and",
                    }
                }
            ]
            bool_query["should"] = [{"match": {"text": {"query": query.text, "boost": 0.5}}}]
        aggs = {
            "doc_type": {"terms": {"field": "doc_type", "size": FACET_SIZE}},
            "office": {"terms": {"field": "office", "size": FACET_SIZE}},
            "year": {"terms": {"field": "year", "size": FACET_SIZE}},
        }
        with self._errors("searching"):
            found = self.client.search(
                index=self.names["documents"],
                query={"bool": bool_query},
                sort=["_score", {"created_at": "desc"}, {"id": "asc"}],
                track_scores=True,
                track_total_hits=True,
                from_=query.offset,
                size=query.limit,
                source_includes=["doc_type", "source_path", "text", "display_text", "valid_fields"],
                aggs=aggs,
            )
        hits = [
            SearchHit(
                id=hit["_id"],
                score=round(float(hit["_score"] or 0.0), 4),
                doc_type=hit["_source"]["doc_type"],
                highlight=highlight(
                    hit["_source"].get("text") or hit["_source"].get("display_text") or "", terms
                ),
                source=hit["_source"]["source_path"],
                fields=dict(hit["_source"].get("valid_fields") or {}),
            )
            for hit in found["hits"]["hits"]
        ]
        facets = {
            name: {b["key"]: b["doc_count"] for b in agg["buckets"]}
            for name, agg in found["aggregations"].items()
        }
        return SearchResult(total=found["hits"]["total"]["value"], hits=hits, facets=facets)

    # -- statistics ----------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        with self._errors("computing statistics"):
            # The stages and page reading methods ever stored: the fields under
            # stage_count and page_methods (dynamically mapped).
            mapping = self.client.indices.get_mapping(index=self.names["documents"])
            props = next(iter(mapping.body.values()))["mappings"]["properties"]
            keys = sorted(props.get("stage_count", {}).get("properties", {}))
            methods = sorted(props.get("page_methods", {}).get("properties", {}))
            docs = self.client.search(
                index=self.names["documents"],
                size=0,
                track_total_hits=True,
                aggs={
                    "by_doc_type": {"terms": {"field": "doc_type", "size": 1000}},
                    "files": {"cardinality": {"field": "sha256", "precision_threshold": 40000}},
                    **{
                        f"{kind}{i}": {"sum": {"field": f"stage_{field}.{key}"}}
                        for i, key in enumerate(keys)
                        for kind, field in (("count", "count"), ("seconds", "seconds"))
                    },
                    "pages": {"sum": {"field": "page_count"}},
                    **{
                        f"method{i}": {"sum": {"field": f"page_methods.{key}"}}
                        for i, key in enumerate(methods)
                    },
                },
            )
            failed = self.client.count(index=self.names["failures"])["count"]
        aggs = docs["aggregations"]
        return {
            "documents": docs["hits"]["total"]["value"],
            "files": aggs["files"]["value"],
            "pages": round(aggs["pages"]["value"]),
            "failed_files": failed,
            "by_doc_type": {b["key"]: b["doc_count"] for b in aggs["by_doc_type"]["buckets"]},
            "pages_by_method": {
                stage_name(key): count
                for i, key in enumerate(methods)
                if (count := round(aggs[f"method{i}"]["value"]))
            },
            "stages": dict(
                sorted(
                    (stage_name(key), {"count": count, "seconds": round(seconds, 3)})
                    for i, key in enumerate(keys)
                    if (count := round(aggs[f"count{i}"]["value"]))
                    for seconds in [aggs[f"seconds{i}"]["value"]]
                )
            ),  # fmt: skip
        }


def _reason(exc: ApiError) -> str:
    """The error type and reason from an Elasticsearch error body, without the body."""
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error")
    if isinstance(error, dict):
        return f"{error.get('type')}: {error.get('reason')}"
    return str(error or exc.message)


def _short(exc: Exception) -> str:
    # The transport's str() is a bare "TLS error"; its message says what went wrong.
    text = str(getattr(exc, "message", "") or exc)
    return text if len(text) < 300 else text[:300] + "…"
