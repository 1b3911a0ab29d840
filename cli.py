"""The `dossier` command: builds one Config, calls the pipeline, renders tables or JSON,
and turns errors into messages and exit codes (documented in README.md). No pipeline
logic lives here."""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from pipeline.config import Config, from_environment
from pipeline.errors import DossierError, ExitCode

log = logging.getLogger("dossier")


# -- shared plumbing ------------------------------------------------------------


def _setup_logging(verbose: int, quiet: int) -> None:
    level = logging.INFO - 10 * verbose + 10 * quiet
    logging.basicConfig(
        level=max(level, logging.DEBUG),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Libraries are chatty at INFO; their details are for -vv.
    for noisy in ("pdfminer", "PIL", "pypdf", "distributed"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose > 1 else logging.WARNING)
    # The Elasticsearch transport logs every retry with a traceback; its failures reach
    # the user as one dossier error message instead.
    logging.getLogger("elastic_transport").setLevel(
        logging.DEBUG if verbose > 1 else logging.CRITICAL
    )


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, default=str))


def json_option(command: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")(command)


def handles_errors(command: Callable) -> Callable:
    """One place where dossier's errors become a message and an exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        try:
            return command(*args, **kwargs)
        except DossierError as exc:
            if ctx.obj and ctx.obj.get("verbose"):
                log.exception("details")
            click.echo(f"Error: {exc.message}", err=True)
            if exc.hint:
                click.echo(f"  {exc.hint}", err=True)
            ctx.exit(int(exc.exit_code))
        except KeyboardInterrupt:
            click.echo("Interrupted; run the same command again to finish.", err=True)
            ctx.exit(int(ExitCode.interrupted))

    return wrapper


def config_of(ctx: click.Context, **options: Any) -> Config:
    """CLI options, then DOSSIER_* environment variables, then defaults."""
    base = from_environment(os.environ)
    given = {**ctx.obj.get("options", {}), **options}
    return base.with_options(**given)


# -- the group --------------------------------------------------------------------


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log detail (-vv for libraries).")
@click.option("-q", "--quiet", count=True, help="Only warnings (-qq: only errors).")
@click.option(
    "--store",
    type=click.Path(file_okay=False, path_type=Path),
    help="Store folder (catalog, originals, outputs). Env DOSSIER_STORE; default ./dossier-data.",
)
@click.option(
    "--index",
    type=click.Choice(["sqlite", "elasticsearch"]),
    help="Catalog backend (env DOSSIER_INDEX; default sqlite). Elasticsearch is reached at "
    "DOSSIER_ES_URL with DOSSIER_ES_API_KEY or DOSSIER_ES_USERNAME/PASSWORD, "
    "DOSSIER_ES_CA_FILE.",
)
@click.version_option(package_name="dossier")
@click.pass_context
def main(
    ctx: click.Context, verbose: int, quiet: int, store: Path | None, index: str | None
) -> None:
    """Digitize administrative dossiers once; search and reuse them forever."""
    _setup_logging(verbose, quiet)
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose
    ctx.obj["options"] = {"store": store, "index": index}


def store_option(command: Callable) -> Callable:
    """--store is accepted after the command name too (`dossier ingest X --store D`)."""

    def remember(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
        if value is not None:
            ctx.ensure_object(dict).setdefault("options", {})["store"] = value

    return click.option(
        "--store",
        type=click.Path(file_okay=False, path_type=Path),
        expose_value=False,
        callback=remember,
        help="Store folder (env DOSSIER_STORE; default ./dossier-data).",
    )(command)


def cluster_option(command: Callable) -> Callable:
    """--cluster: where page work goes (a Dask scheduler); read by config_of."""

    def remember(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
        if value is not None:
            ctx.ensure_object(dict).setdefault("options", {})["cluster"] = value

    return click.option(
        "--cluster",
        metavar="tcp://HOST:8786",
        expose_value=False,
        callback=remember,
        help="Read pages on this Dask cluster's workers (env DOSSIER_CLUSTER).",
    )(command)


# -- ingest -------------------------------------------------------------------------


def _start_worker_server(cfg: Config) -> None:
    """Start the page workers' forkserver now: it imports the page code (~0.4 s CPU)
    beside this process's own imports, probe and catalog opening, not after them.
    Batch._default_executor uses the same context and finds it running. The server also
    imports this module: every worker runs the `dossier` script again as it starts
    (multiprocessing's spawn preparation), and finds `cli` imported instead of
    importing it and click (~0.1 s CPU per worker)."""
    if cfg.cluster:
        return
    import multiprocessing
    from multiprocessing import forkserver

    multiprocessing.get_context("forkserver").set_forkserver_preload(["cli", "pipeline.pages"])
    forkserver.ensure_running()


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@store_option
@cluster_option
@click.option(
    "--jobs", "-j", type=click.IntRange(1, 256), help="Worker processes (default: cores)."
)
@click.option("--lang", help="Tesseract languages (default vie; e.g. vie+eng).")
@click.option(
    "--cleanup/--no-cleanup", default=None, help="OpenCV cleanup before OCR (default on)."
)
@click.option("--dpi", type=click.IntRange(72, 1200), help="Rasterizing resolution for PDFs.")
@click.option("--procedure", help="Group the batch into one dossier for this procedure code.")
@click.option("--citizen-id", help="The citizen's 12-digit personal ID (with --procedure).")
@click.option(
    "--near/--no-near", "near_reuse", default=None, help="Look for re-scans (default on)."
)
@json_option
@click.pass_context
@handles_errors
def ingest(
    ctx: click.Context,
    paths: tuple[Path, ...],
    jobs: int | None,
    lang: str | None,
    cleanup: bool | None,
    dpi: int | None,
    procedure: str | None,
    citizen_id: str | None,
    near_reuse: bool | None,
    as_json: bool,
) -> None:
    """Digitize files and folders (PDF, PNG, JPEG, TIFF; folders recursively).

    Files already on file (same SHA-256) are reported as present, not read again. Bad
    files are set aside with a reason and the batch goes on; the exit code is 1 when
    any file failed.
    """
    cfg = config_of(ctx, jobs=jobs, lang=lang, cleanup=cleanup, dpi=dpi, near_reuse=near_reuse)
    _start_worker_server(cfg)

    from ocr.tesseract import check_languages
    from pipeline.batch import Batch
    from pipeline.catalog import open_index
    from pipeline.reuse import dossier_for

    check_languages(cfg.lang, cfg.tesseract_cmd)
    dossier = None
    if procedure is not None or citizen_id is not None:
        dossier = dossier_for(paths, procedure, citizen_id)
    index = open_index(cfg)
    display = IngestDisplay(as_json=as_json, quiet=ctx.obj["verbose"] < 0)
    try:
        with display:
            batch = Batch(
                cfg,
                index,
                on_progress=display.progress,
                on_result=display.result,
                dossier=dossier,
            )
            summary = batch.run(paths)
    finally:
        index.close()
    display.summary(summary)
    if summary.failed:
        ctx.exit(int(ExitCode.some_files_failed))


# -- show / search / stats ---------------------------------------------------------------


@main.command()
@click.argument("doc_id")
@store_option
@json_option
@click.pass_context
@handles_errors
def show(ctx: click.Context, doc_id: str, as_json: bool) -> None:
    """Show one document: its fields (where each was read), pages and outputs."""
    from pipeline.catalog import open_index
    from pipeline.errors import NotFoundError

    index = open_index(config_of(ctx))
    try:
        doc = index.get_document(doc_id)
    finally:
        index.close()
    if doc is None:
        raise NotFoundError(
            f"No document with id {doc_id!r}.", hint="Find ids with 'dossier search'."
        )
    if as_json:
        emit_json(document_json(doc))
    else:
        print_document(doc)


def _field_filter(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> dict[str, str]:
    fields = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{item!r}: expected NAME=VALUE, e.g. id_number=0012...")
        fields[name.strip()] = value.strip()
    return fields


@main.command()
@click.argument("query", required=False, default="")
@store_option
@click.option("--limit", type=click.IntRange(1, 1000), default=10, show_default=True)
@click.option("--offset", type=click.IntRange(0), default=0)
@click.option("--type", "doc_type", help="Only this document type, e.g. birth_certificate.")
@click.option("--citizen-id", help="Only documents about this personal ID number.")
@click.option(
    "--field", "fields", multiple=True, callback=_field_filter, help="NAME=VALUE (repeatable)."
)
@click.option("--from", "date_from", help="Issued on or after (YYYY-MM-DD).")
@click.option("--to", "date_to", help="Issued on or before (YYYY-MM-DD).")
@click.option("--office", help="Issuing or registration office (words of its name).")
@json_option
@click.pass_context
@handles_errors
def search(
    ctx: click.Context,
    query: str,
    limit: int,
    offset: int,
    doc_type: str | None,
    citizen_id: str | None,
    fields: dict[str, str],
    date_from: str | None,
    date_to: str | None,
    office: str | None,
    as_json: bool,
) -> None:
    """Search the catalog, with or without diacritics ("nguyen van an")."""
    from indexer.base import SearchQuery
    from pipeline.catalog import open_index

    request = SearchQuery(
        text=query,
        doc_type=doc_type,
        citizen_id=citizen_id,
        fields=fields,
        date_from=date_from,
        date_to=date_to,
        office=office,
        limit=limit,
        offset=offset,
    )
    index = open_index(config_of(ctx))
    try:
        result = index.search(request)
    finally:
        index.close()
    if as_json:
        emit_json(search_json(result))
    else:
        print_search(result, query)


@main.command()
@store_option
@json_option
@click.pass_context
@handles_errors
def stats(ctx: click.Context, as_json: bool) -> None:
    """Counts of documents, pages, failures and time per stage."""
    from pipeline.catalog import open_index

    index = open_index(config_of(ctx))
    try:
        data = index.stats()
        data["failures"] = index.failures()
    finally:
        index.close()
    if as_json:
        emit_json(data)
    else:
        print_stats(data)


# -- reuse, dossiers and what it saved -------------------------------------------------


@main.command()
@json_option
@handles_errors
def procedures(as_json: bool) -> None:
    """The procedure catalogue: codes, names and the document types each requires."""
    from pipeline.reuse import load_procedures

    catalogue = load_procedures()
    if as_json:
        emit_json(
            [
                {"code": p.code, "name": p.name, "requires": list(p.requires)}
                for p in catalogue.values()
            ]
        )
        return
    for item in catalogue.values():
        click.echo(f"{item.code:<7} {item.name}")
        click.echo(f"        requires: {', '.join(item.requires)}")


@main.command()
@store_option
@click.option("--citizen-id", required=True, help="The citizen's 12-digit personal ID.")
@click.option("--procedure", help="Also say what this procedure still needs.")
@json_option
@click.pass_context
@handles_errors
def reuse(ctx: click.Context, citizen_id: str, procedure: str | None, as_json: bool) -> None:
    """What is on file for a citizen, and for a procedure what they must still bring."""
    import datetime as dt

    from pipeline import reuse as policy
    from pipeline.catalog import open_index

    citizen = policy.check_citizen_id(citizen_id)
    proc = policy.procedure(procedure) if procedure else None
    index = open_index(config_of(ctx))
    try:
        documents = index.documents_of_person(citizen)
    finally:
        index.close()
    result = policy.on_file(documents, citizen, proc, dt.date.today())
    if as_json:
        emit_json(
            {
                "citizen_id": result.citizen_id,
                "documents": result.documents,
                "set_aside": result.set_aside,
                "procedure": proc.code if proc else None,
                "on_file": result.have,
                "missing": result.missing,
            }
        )
        return
    print_on_file(result)


@main.command("verify-log")
@store_option
@json_option
@click.pass_context
@handles_errors
def verify_log(ctx: click.Context, as_json: bool) -> None:
    """Check the reuse log's hash chain; name the first entry altered or removed."""
    from pipeline.catalog import open_index
    from pipeline.errors import CheckFailedError
    from pipeline.reuse import verify_log as verify

    index = open_index(config_of(ctx))
    try:
        result = verify(index.reuse_log(), index.reuse_log_head())
    finally:
        index.close()
    if as_json:
        emit_json(result.__dict__)
    if not result.ok:
        raise CheckFailedError(
            f"The reuse log was tampered with: {result.problem} "
            f"(entries 1-{result.checked} are intact).",
            hint="Restore the catalog from a backup and investigate who changed it.",
        )
    if not as_json:
        click.echo(f"The reuse log is intact: {result.checked} entries verified.")


@main.command()
@store_option
@click.option(
    "--since", "since_date", type=click.DateTime(["%Y-%m-%d"]), help="From this day (YYYY-MM-DD)."
)
@click.option(
    "--until", "until_date", type=click.DateTime(["%Y-%m-%d"]), help="To this day, inclusive."
)
@click.option(
    "--by", type=click.Choice(["day", "procedure", "doc_type"]), default="day", show_default=True
)
@click.option(
    "--chart", type=click.Path(dir_okay=False, path_type=Path), help="Write a chart (.png/.html)."
)
@json_option
@click.pass_context
@handles_errors
def report(
    ctx: click.Context,
    since_date: Any,
    until_date: Any,
    by: str,
    chart: Path | None,
    as_json: bool,
) -> None:
    """Processing time with and without reuse: measured, not estimated."""
    from pipeline.catalog import open_index
    from pipeline.report import render_chart, report_for

    since = since_date.date().isoformat() if since_date else None
    until = until_date.date().isoformat() if until_date else None
    index = open_index(config_of(ctx))
    try:
        result = report_for(index, since=since, until=until, by=by)
    finally:
        index.close()
    if result.empty:
        click.echo(
            f"No documents were processed between {since or 'the start'} and {until or 'now'}.",
            err=True,
        )
    if chart is not None and not result.empty:
        render_chart(result, chart)
        click.echo(f"chart written to {chart}", err=True)
    if as_json:
        emit_json(result.to_json())
    elif not result.empty:
        print_report(result)


@main.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--rescans",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A folder of re-scans (NAME_rescanN.ext re-scans NAME.*) to measure near reuse.",
)
@click.option("--jobs", "-j", type=click.IntRange(1, 256), help="Worker processes.")
@click.option(
    "--repeat",
    type=click.IntRange(1, 20),
    default=1,
    show_default=True,
    help="Run the whole measurement this many times, each in a fresh store; medians "
    "are taken over every run's documents.",
)
@json_option
@click.pass_context
@handles_errors
def bench(
    ctx: click.Context,
    path: Path,
    rescans: Path | None,
    jobs: int | None,
    repeat: int,
    as_json: bool,
) -> None:
    """Measure on your own files: fresh processing vs resubmission (exact reuse) vs
    re-scans (near reuse), in a temporary store; per-document medians and ratios."""
    from ocr.tesseract import check_languages
    from pipeline.measure import run_bench

    cfg = config_of(ctx, jobs=jobs)
    check_languages(cfg.lang, cfg.tesseract_cmd)
    result = run_bench(path, cfg, rescans, repeat)
    if as_json:
        emit_json(result)
        return
    print_bench(result)


@main.command()
@store_option
@click.option(
    "--to",
    "target",
    type=click.Choice(["elasticsearch", "sqlite"]),
    required=True,
    help="The backend to copy the catalog into (the source is --index).",
)
@json_option
@click.pass_context
@handles_errors
def reindex(ctx: click.Context, target: str, as_json: bool) -> None:
    """Copy the whole catalog into another backend, without running OCR again.

    Idempotent and resumable: run it again after an interruption. The reuse log is
    copied as the same hash chain.
    """
    from dataclasses import replace

    from indexer.reindex import copy_catalog
    from pipeline.catalog import open_index

    source_cfg = config_of(ctx)
    if source_cfg.index == target:
        raise click.UsageError(f"The catalog already is {target}; choose --index to copy from.")
    source = open_index(source_cfg)
    try:
        destination = open_index(replace(source_cfg, index=target))
        try:
            counts = copy_catalog(
                source, destination, progress=lambda n: log.info("%d documents copied", n)
            )
        finally:
            destination.close()
    finally:
        source.close()
    if as_json:
        emit_json(counts)
    else:
        click.echo(
            f"Copied {counts['documents']} documents, {counts['dossiers']} dossiers, "
            f"{counts['failures']} set-aside files and {counts['reuse_log']} reuse-log "
            f"entries from {source_cfg.index} to {target}."
        )


@main.command("eval")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--min-f1", type=click.FloatRange(0, 1), help="Fail (exit 8) below this field F1.")
@click.option("--jobs", "-j", type=click.IntRange(1, 256), help="Worker processes.")
@json_option
@click.pass_context
@handles_errors
def eval_command(
    ctx: click.Context, directory: Path, min_f1: float | None, jobs: int | None, as_json: bool
) -> None:
    """Score extraction on samples with ground truth (NAME.json beside each file).

    Ingests them into a temporary store; reports per document type the classification
    accuracy, field precision/recall/F1 (exact match on normalized values) and text CER.
    """
    from pipeline.errors import CheckFailedError
    from pipeline.evaluate import ALL, evaluate_directory, report_dict

    scores = evaluate_directory(directory, config_of(ctx, jobs=jobs))
    if as_json:
        emit_json(report_dict(scores))
    else:
        print_eval(scores)
    if min_f1 is not None and scores[ALL].f1 < min_f1:
        raise CheckFailedError(f"Field F1 {scores[ALL].f1:.3f} is below --min-f1 {min_f1}.")


def print_eval(scores: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("type", "docs", "accuracy", "precision", "recall", "F1", "CER")
    for name, s in scores.items():
        cer = "-" if s.cer is None else f"{s.cer:.3f}"
        table.add_row(
            name,
            str(s.documents),
            f"{s.accuracy:.3f}",
            f"{s.precision:.3f}",
            f"{s.recall:.3f}",
            f"{s.f1:.3f}",
            cer,
        )
    console = Console()
    console.print(table)
    for error in scores["all"].errors[:50]:
        console.print(f"  {error}", markup=False, highlight=False)


# -- rendering ----------------------------------------------------------------------


class IngestDisplay:
    """Progress for a long batch: a live bar on a terminal (documents and pages done,
    rate, time left, failures), plain log lines otherwise. JSON Lines go to stdout,
    everything else to stderr."""

    def __init__(self, *, as_json: bool, quiet: bool):
        from rich.console import Console

        self.as_json = as_json
        self.console = Console(stderr=True)
        self.live = self.console.is_terminal and not quiet
        self._bar = None
        self._task = None

    def __enter__(self) -> IngestDisplay:
        if self.live:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("[bold]ingest"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("pages · {task.fields[docs]} docs · {task.fields[rate]} pages/s"),
                TextColumn("· [red]{task.fields[failed]} failed"),
                TimeRemainingColumn(),
                console=self.console,
            )
            self._bar.start()
            self._task = self._bar.add_task("ingest", total=None, docs=0, rate="-", failed=0)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def progress(self, progress: Any) -> None:
        if self._bar is None:
            return
        elapsed = self._bar.tasks[0].elapsed or 0.0
        rate = f"{progress.pages_done / elapsed:.2f}" if elapsed > 0 else "-"
        self._bar.update(
            self._task,
            total=progress.pages_total or None,
            completed=progress.pages_done,
            docs=progress.documents,
            rate=rate,
            failed=progress.failed,
        )

    def result(self, result: Any) -> None:
        if self.as_json:
            emit_json(result.to_json())
            sys.stdout.flush()
        if result.status == "failed":
            log.warning("set aside: %s", result.error)
        else:
            log.info(
                "%-8s %s %-22s %3d page(s) %6.2f s  %s",
                result.status,
                result.id,
                result.doc_type,
                result.pages,
                result.seconds,
                result.source,
            )

    def summary(self, summary: Any) -> None:
        if self.as_json:
            emit_json({"summary": summary.to_json()})
            return
        data = summary.to_json()
        rate = data["pages"] / data["seconds"] if data["seconds"] else 0.0
        click.echo(
            f"{data['documents']} documents, {data['pages']} pages in {data['seconds']:.1f} s "
            f"({rate:.2f} pages/s): {data['new']} new, {data['present']} already on file, "
            f"{data['reused']} reused, {data['failed']} failed"
        )
        for result in summary.results:
            if result.status == "failed":
                click.echo(f"  set aside: {result.error}")


def document_json(doc: Any) -> dict[str, Any]:
    """The `dossier show --json` contract."""
    pages = []
    for page in doc.pages:
        pages.append(
            {
                "index": page.index,
                "method": page.method,
                "width": page.width,
                "height": page.height,
                "dpi": page.dpi,
                "phash": f"{page.phash:016x}" if page.phash is not None else None,
                "mean_confidence": page.mean_confidence,
                "cleanup": page.cleanup.__dict__ if page.cleanup else None,
                "warnings": page.warnings,
                "timings": page.timings,
                "text": page.text,
            }
        )
    return {
        "id": doc.id,
        "source": doc.source.path,
        "sha256": doc.source.sha256,
        "doc_type": doc.doc_type,
        "doc_type_score": doc.doc_type_score,
        "first_page": doc.first_page,
        "last_page": doc.last_page,
        "status": doc.status,
        "created_at": doc.created_at,
        "text": doc.text,
        "pages": pages,
        "fields": [
            {
                "name": f.name,
                "value": f.value,
                "raw": f.raw,
                "confidence": f.confidence,
                "page": f.page,
                "bbox": list(f.bbox) if f.bbox else None,
                "valid": f.valid,
                "reason": f.reason,
                "extractor": f"{f.extractor}/{f.extractor_version}",
            }
            for f in doc.fields
        ],
        "outputs": {k: doc.outputs.get(k) for k in ("pdf", "text", "json", "original")},
        "timings": [t.__dict__ for t in doc.timings],
    }


def print_document(doc: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    pages = (
        f"pages {doc.first_page + 1}-{doc.last_page + 1}"
        if doc.page_count > 1
        else (f"page {doc.first_page + 1}")
    )
    console.print(f"[bold]{doc.id}[/]  {doc.doc_type}  ({pages} of {doc.source.path})")
    table = Table("field", "value", "conf", "page", "valid", title="Fields", title_justify="left")
    for f in doc.fields:
        valid = "yes" if f.valid else f"[red]no[/]: {f.reason or ''}"
        table.add_row(f.name, f.value or "", f"{f.confidence:.0f}", str(f.page + 1), valid)
    if doc.fields:
        console.print(table)
    else:
        console.print("No fields extracted.")
    methods = ", ".join(f"{p.index + 1}:{p.method}" for p in doc.pages)
    console.print(f"Pages read: {methods}")
    for name in ("pdf", "text", "json", "original"):
        if doc.outputs.get(name):
            console.print(f"{name:>8}: {doc.outputs[name]}")
    console.print()
    console.print(doc.text, markup=False, highlight=False)


def search_json(result: Any) -> dict[str, Any]:
    """The `dossier search --json` contract."""
    return {
        "total": result.total,
        "hits": [
            {
                "id": h.id,
                "score": h.score,
                "doc_type": h.doc_type,
                "highlight": h.highlight,
                "source": h.source,
                "fields": h.fields,
            }
            for h in result.hits
        ],
        "facets": result.facets,
    }


def print_search(result: Any, query: str) -> None:
    from rich.console import Console
    from rich.markup import escape

    console = Console()
    console.print(
        f"{result.total} document(s) match {query!r}" if query else f"{result.total} document(s)"
    )
    for hit in result.hits:
        snippet = escape(hit.highlight).replace("<em>", "[bold yellow]").replace("</em>", "[/]")
        console.print(f"[bold]{hit.id}[/] {hit.doc_type} ({hit.score:.2f})  {hit.source}")
        console.print(f"    {snippet}")


def print_stats(data: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(
        f"{data['documents']} documents from {data['files']} files, {data['pages']} pages; "
        f"{data['failed_files']} files set aside"
    )
    if data["by_doc_type"]:
        table = Table("document type", "count")
        for name, count in sorted(data["by_doc_type"].items()):
            table.add_row(name, str(count))
        console.print(table)
    if data["stages"]:
        table = Table("stage", "runs", "seconds")
        for stage, row in data["stages"].items():
            table.add_row(stage, str(row["count"]), f"{row['seconds']:.2f}")
        console.print(table)
    for failure in data.get("failures", []):
        console.print(f"[red]set aside[/] {failure['path']}: {failure['reason']}")


# -- cluster workers -----------------------------------------------------------------------


@main.command(context_settings={"ignore_unknown_options": True})
@click.option("--scheduler", required=True, metavar="tcp://HOST:8786", help="Dask scheduler.")
@click.option(
    "--nworkers",
    type=click.IntRange(1, 256),
    default=lambda: os.cpu_count() or 1,
    show_default="cores",
    help="Worker processes (one page each at a time).",
)
@click.option("--lang", help="Tesseract languages the workers must read (default vie).")
@click.argument("dask_options", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
@handles_errors
def worker(
    ctx: click.Context, scheduler: str, nworkers: int, lang: str | None, dask_options: tuple
) -> None:
    """Start OCR workers for a Dask cluster (dask worker with OMP_THREAD_LIMIT=1, one
    thread per process, Tesseract languages checked at start). Options after '--' go
    to dask worker, e.g. -- --memory-limit 2GB."""
    from pipeline.cluster import run_worker

    cfg = config_of(ctx, lang=lang)
    run_worker(scheduler, nworkers, cfg.lang, cfg.tesseract_cmd, dask_options)


# -- web interface (web/) ------------------------------------------------------------------


@main.command()
@store_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option(
    "--insecure-cookies",
    is_flag=True,
    help="Send the session cookie over plain http too (local tests only; behind TLS, omit).",
)
@click.pass_context
@handles_errors
def serve(ctx: click.Context, host: str, port: int, insecure_cookies: bool) -> None:
    """The officials' web interface and JSON API (/api, OpenAPI at /api/openapi.json).

    Everyone signs in; add accounts with 'dossier users add'."""
    from web.app import serve as run_server

    run_server(config_of(ctx), host, port, secure_cookies=not insecure_cookies)


@main.group()
def users() -> None:
    """Accounts of the web interface (roles: clerk, official, manager)."""


@users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["clerk", "official", "manager"]), required=True)
@click.option("--replace", is_flag=True, help="Change the role/password of an existing user.")
@store_option
@click.pass_context
@handles_errors
def users_add(ctx: click.Context, name: str, role: str, replace: bool) -> None:
    """Add a user; the password is asked for (or read from stdin when piped)."""
    from web.accounts import Accounts, accounts_path

    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    accounts = Accounts(accounts_path(config_of(ctx).store))
    try:
        user = accounts.add_user(name, role, password, replace=replace)
    finally:
        accounts.close()
    click.echo(f"{user.name} ({user.role}) can sign in.")


def _set_user_active(ctx: click.Context, name: str, active: bool) -> None:
    from web.accounts import Accounts, accounts_path

    accounts = Accounts(accounts_path(config_of(ctx).store))
    try:
        accounts.set_active(name, active)
        accounts.audit("cli", "enable user" if active else "disable user", name)
    finally:
        accounts.close()


@users.command("disable")
@click.argument("name")
@store_option
@click.pass_context
@handles_errors
def users_disable(ctx: click.Context, name: str) -> None:
    """Stop a user from signing in; their open sessions end at once. The account and
    its audit trail are kept."""
    _set_user_active(ctx, name, False)
    click.echo(f"{name} can no longer sign in.")


@users.command("enable")
@click.argument("name")
@store_option
@click.pass_context
@handles_errors
def users_enable(ctx: click.Context, name: str) -> None:
    """Let a disabled user sign in again."""
    _set_user_active(ctx, name, True)
    click.echo(f"{name} can sign in.")


@users.command("list")
@store_option
@json_option
@click.pass_context
@handles_errors
def users_list(ctx: click.Context, as_json: bool) -> None:
    """The web interface's users and their roles."""
    from web.accounts import Accounts, accounts_path

    accounts = Accounts(accounts_path(config_of(ctx).store))
    try:
        rows = accounts.users()
    finally:
        accounts.close()
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        state = "" if row["active"] else "  (disabled)"
        click.echo(f"{row['name']:<20} {row['role']:<9} since {row['created_at']}{state}")


def print_on_file(result: Any) -> None:
    from pipeline.textnorm import mask_id

    click.echo(
        f"On file for {mask_id(result.citizen_id)}: {len(result.documents)} valid document(s)"
    )
    for doc in result.documents:
        number = f" no. {doc['doc_number']}" if doc["doc_number"] else ""
        click.echo(
            f"  {doc['doc_type']:<24} {doc['id']}{number} ({doc['date'] or '-'})"
            f" from {doc['source']}"
        )
    for doc in result.set_aside:
        click.echo(f"  [not usable] {doc['doc_type']} {doc['id']}: {doc['reason']}")
    if result.procedure is not None:
        click.echo(f"Procedure {result.procedure.code}: {result.procedure.name}")
        for doc_type in result.procedure.requires:
            state = (
                f"on file ({result.have[doc_type]})" if doc_type in result.have else "MUST BRING"
            )
            click.echo(f"  {doc_type:<24} {state}")


def print_report(result: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        result.by,
        "docs",
        "pages",
        "fresh",
        "exact",
        "near",
        "identity",
        "baseline s",
        "measured s",
        "saved s",
        "reduction",
        title="Processing time with reuse",
        title_justify="left",
    )
    for row in [*result.rows, result.total]:
        data = row.to_json()
        table.add_row(
            row.group,
            str(row.documents),
            str(row.pages),
            str(row.fresh),
            str(row.exact),
            str(row.near),
            str(row.identity),
            f"{data['baseline_seconds']:.1f}",
            f"{data['measured_seconds']:.1f}",
            f"{data['saved_seconds']:.1f}",
            f"{data['reduction_percent']:.1f}%",
        )
    Console().print(table)
    total = result.total
    click.echo(f"{total.not_resubmitted} of {total.documents} documents were already on file.")


def print_bench(result: dict[str, Any]) -> None:
    def line(name: str, phase: dict[str, Any] | None, speedup: Any = None) -> None:
        if not phase:
            return
        median = phase["median_seconds"]
        ratio = f"  {speedup}x faster than fresh" if speedup else ""
        shown = f"{median:.4f} s" if median is not None else "-"
        click.echo(f"  {name:<22} {phase['documents']:>4} docs  median {shown}/doc{ratio}")

    runs = f" ({result['repeat']} runs, medians over all of them)" if "repeat" in result else ""
    click.echo(f"dossier bench on {result['path']}{runs}")
    line("fresh processing", result["fresh"])
    line("resubmission (exact)", result["exact"], result.get("exact_speedup"))
    line("re-scans (near)", result.get("near"), result.get("near_speedup"))
    if "exact_reduction_percent" in result:
        click.echo(f"  time saved on a resubmission: {result['exact_reduction_percent']}%")
    if "rescans" in result:
        click.echo(
            f"  re-scans: {result['rescans']}, recall {result['rescan_recall']}, "
            f"false reuses {result['false_reuses']}"
        )
    for number, run in enumerate(result.get("runs", []), start=1):
        near = f", near {run['near_speedup']}x" if run.get("near_speedup") else ""
        click.echo(f"  run {number}: exact {run['exact_speedup']}x{near}")


if __name__ == "__main__":
    main()
