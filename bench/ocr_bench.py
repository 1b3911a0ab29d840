"""OCR benchmark: pages per second and character error rate, side by side, on the same
pages and cores, for bare Tesseract, dossier (cleanup on and off) and OCRmyPDF.

    .venv/bin/python -m bench.ocr_bench [--pages DIR] [--jobs N] [--json]

Every page of the folder's documents (with ground truth `NAME.json` next to them, as in
samples/) is first written out as one PNG (PDF pages rasterized at 300 dpi), untimed.
Each engine then reads that same folder with N parallel workers; its wall time is what
counts. A benchmark, not a test: nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from rapidfuzz.distance import Levenshtein

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
ENGINES = ("tesseract", "dossier", "dossier-no-cleanup", "ocrmypdf")


@dataclass
class BenchPage:
    name: str  # PNG file name in the page folder
    truth: str | None
    dpi: int | None  # resolution the file claims (None: no tag, as many real scans)


@dataclass
class EngineRun:
    engine: str
    seconds: float
    texts: dict[str, str] = field(default_factory=dict)  # page file name -> text
    cpu: float | None = None  # CPU seconds (user + system) of the processes it waited for
    error: str | None = None
    statuses: dict[str, str] = field(default_factory=dict)  # dossier: page file -> status


def normalize_text(text: str) -> str:
    """NFC, whitespace collapsed: the form both ground truth and OCR are compared in."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def cer(text: str, truth: str) -> float:
    """Character error rate: edits to turn the OCR text into the truth, per truth char."""
    truth = normalize_text(truth)
    return Levenshtein.distance(normalize_text(text), truth) / max(len(truth), 1)


# --- the page set ----------------------------------------------------------------------


def _save_png(pixels: np.ndarray, path: Path, dpi: int | None) -> None:
    rgb = pixels if pixels.ndim == 2 else pixels[..., ::-1]
    extra = {"dpi": (dpi, dpi)} if dpi else {}
    Image.fromarray(np.ascontiguousarray(rgb)).save(path, compress_level=1, **extra)


def _truth_lines(page: dict) -> str:
    return "\n".join(page.get("lines", []))


def pages_from_samples(folder: Path, out: Path, limit: int | None) -> list[BenchPage]:
    """One PNG per page of every document that has ground truth in `folder`."""
    from ocr.images import load_frame
    from ocr.pdf import PdfSource

    max_pixels = 200_000_000
    result: list[BenchPage] = []
    for truth_file in sorted(folder.glob("*.json")):
        meta = json.loads(truth_file.read_text(encoding="utf-8"))
        if not isinstance(meta, dict) or "file" not in meta or "pages" not in meta:
            continue
        source = folder / meta["file"]
        if not source.exists():
            continue
        truths = meta["pages"]
        if source.read_bytes()[:5] == b"%PDF-":
            pdf = PdfSource(source)
            try:
                for i, page in enumerate(truths):
                    pixels, dpi = pdf.rasterize(i, 300, max_pixels)
                    name = f"{source.stem}_p{i + 1}.png"
                    _save_png(pixels, out / name, dpi)
                    result.append(BenchPage(name, _truth_lines(page), dpi))
            finally:
                pdf.close()
        else:
            for i, page in enumerate(truths):
                pixels, dpi = load_frame(source, i, max_pixels)
                name = f"{source.stem}_p{i + 1}.png"
                _save_png(pixels, out / name, dpi)
                result.append(BenchPage(name, _truth_lines(page), dpi))
        if limit and len(result) >= limit:
            return result[:limit]
    return result


def generated_pages(out: Path, count: int) -> list[BenchPage]:
    """Synthetic forms (clean and degraded in turn) when no sample folder is at hand."""
    from bench import pages

    people = [pages.AN, pages.BINH]
    result = []
    for i in range(count):
        person = people[i % 2]
        image = pages.form_page(person)
        if i % 3:
            image = pages.degrade(image, seed=i, skew=(-1) ** i * (0.5 + i % 3))
        name = f"generated_{i + 1:02d}.png"
        _save_png(image, out / name, 300)
        result.append(BenchPage(name, pages.form_text(person), 300))
    return result


# --- engines ---------------------------------------------------------------------------


def _children_cpu() -> float:
    """CPU seconds used so far by finished child processes (and theirs, once reaped):
    the machine is shared, so CPU time is the steadier figure beside the wall clock."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run_tree(cmd: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str, float]:
    """Run `cmd`; (exit code, stdout, stderr, CPU seconds of its whole process tree).

    dossier's workers are children of a forkserver nobody waits for, so RUSAGE_CHILDREN
    misses them: the tree is sampled every 50 ms instead, keeping each process's own last
    CPU time (a short-lived Tesseract loses at most its last 50 ms)."""
    import threading

    import psutil

    seen: dict[tuple[int, float], float] = {}  # (pid, start time) -> own CPU seconds
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        root = psutil.Process(proc.pid)
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                try:
                    tree = [root, *root.children(recursive=True)]
                except psutil.Error:
                    tree = []
                for p in tree:
                    try:
                        with p.oneshot():
                            t = p.cpu_times()
                            seen[(p.pid, p.create_time())] = t.user + t.system
                    except psutil.Error:
                        pass
                done.wait(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = proc.wait()
        done.set()
        sampler.join()
        out.seek(0)
        err.seek(0)
        return code, out.read().decode(), err.read().decode(), sum(seen.values())


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["OMP_THREAD_LIMIT"] = "1"
    return env


def run_tesseract(folder: Path, pages: list[BenchPage], jobs: int, lang: str) -> EngineRun:
    """`tesseract IMG out -l LANG`, one single-threaded process per core."""
    out = Path(tempfile.mkdtemp(prefix="bench-tess-"))
    env = _env()

    def one(page: BenchPage) -> tuple[str, str]:
        base = out / Path(page.name).stem
        subprocess.run(
            ["tesseract", str(folder / page.name), str(base), "-l", lang],
            env=env,
            capture_output=True,
            check=True,
        )
        return page.name, base.with_suffix(".txt").read_text(encoding="utf-8")

    cpu, started = _children_cpu(), time.perf_counter()
    with ThreadPoolExecutor(jobs) as pool:
        texts = dict(pool.map(one, pages))
    run = EngineRun("tesseract", time.perf_counter() - started, texts, _children_cpu() - cpu)
    shutil.rmtree(out, ignore_errors=True)
    return run


def run_dossier(
    folder: Path, pages: list[BenchPage], jobs: int, lang: str, *, cleanup: bool
) -> EngineRun:
    """The real CLI: `dossier ingest DIR --store TMP --json --jobs N`, then `dossier show`
    (untimed) for each document's text."""
    engine = "dossier" if cleanup else "dossier-no-cleanup"
    store = Path(tempfile.mkdtemp(prefix="bench-store-"))
    cmd = [str(VENV_BIN / "dossier"), "ingest", str(folder), "--store", str(store), "--json"]
    cmd += ["--jobs", str(jobs), "--lang", lang, "--cleanup" if cleanup else "--no-cleanup"]
    started = time.perf_counter()
    code, stdout, stderr, cpu = _run_tree(cmd, _env())
    seconds = time.perf_counter() - started
    run = EngineRun(engine, seconds, cpu=cpu)
    if code not in (0, 1):
        run.error = f"dossier ingest exited {code}: {stderr[-500:]}"
        return run
    for line in stdout.splitlines():
        record = json.loads(line)
        if "summary" in record:
            continue
        run.statuses[Path(record["source"]).name] = record["status"]
        if record["status"] == "failed" or not record.get("id"):
            continue
        shown = subprocess.run(
            [str(VENV_BIN / "dossier"), "show", record["id"], "--json", "--store", str(store)],
            capture_output=True,
            text=True,
        )
        if shown.returncode != 0:
            continue
        doc = json.loads(shown.stdout)
        run.texts[Path(doc["source"]).name] = doc["text"]
    shutil.rmtree(store, ignore_errors=True)
    return run


def run_ocrmypdf(folder: Path, pages: list[BenchPage], jobs: int, lang: str) -> EngineRun:
    """`ocrmypdf --jobs N --deskew --clean --sidecar` over one PDF of all the pages (its
    best case: page-parallel inside one process tree). Building the PDF is untimed."""
    import img2pdf

    work = Path(tempfile.mkdtemp(prefix="bench-ocrmypdf-"))
    source = work / "in.pdf"
    layouts = {p.dpi or 300 for p in pages}
    # Pages without a resolution tag are given 300 dpi (OCRmyPDF's --image-dpi would).
    options = (
        {"layout_fun": img2pdf.get_fixed_dpi_layout_fun((300, 300))} if None in layouts else {}
    )
    source.write_bytes(img2pdf.convert([str(folder / p.name) for p in pages], **options))
    sidecar = work / "out.txt"
    cmd = [str(VENV_BIN / "ocrmypdf"), "--jobs", str(jobs), "--deskew", "--clean"]
    cmd += ["--sidecar", str(sidecar), "--output-type", "pdf", "-l", lang, "-q"]
    cmd += [str(source), str(work / "out.pdf")]
    started = time.perf_counter()
    code, _, stderr, cpu = _run_tree(cmd)
    run = EngineRun("ocrmypdf", time.perf_counter() - started, cpu=cpu)
    if code != 0:
        run.error = f"ocrmypdf exited {code}: {stderr[-500:]}"
    else:
        texts = sidecar.read_text(encoding="utf-8").split("\f")
        run.texts = {p.name: t for p, t in zip(pages, texts, strict=False)}
    shutil.rmtree(work, ignore_errors=True)
    return run


# --- report ----------------------------------------------------------------------------


def summarize(runs: list[EngineRun], pages: list[BenchPage], jobs: int) -> dict:
    by_engine: dict[str, list[EngineRun]] = {}
    for run in runs:
        by_engine.setdefault(run.engine, []).append(run)
    engines = {}
    for engine, repeats in by_engine.items():
        seconds = statistics.median(r.seconds for r in repeats)
        last = repeats[-1]
        scored = [p for p in pages if p.truth]
        cers = [cer(last.texts.get(p.name, ""), p.truth or "") for p in scored]
        chars = sum(len(normalize_text(p.truth or "")) for p in scored)
        edits = sum(
            Levenshtein.distance(
                normalize_text(last.texts.get(p.name, "")), normalize_text(p.truth or "")
            )
            for p in scored
        )
        cpus = [r.cpu for r in repeats if r.cpu is not None]
        engines[engine] = {
            "seconds": round(seconds, 2),
            "cpu_per_page": round(statistics.median(cpus) / len(pages), 3) if cpus else None,
            "pages_per_second": round(len(pages) / seconds, 3) if seconds else None,
            "cer_median": round(statistics.median(cers), 4) if cers else None,
            "cer_overall": round(edits / chars, 4) if chars else None,
            "pages_read": len(last.texts),
            "error": last.error,
        }
        if last.statuses:
            # A page not "new" was not read by this run (set aside, or reused from another).
            engines[engine]["not_new"] = {k: v for k, v in last.statuses.items() if v != "new"}
    report: dict = {
        "pages": len(pages),
        "jobs": jobs,
        "loadavg": os.getloadavg()[0],
        "engines": engines,
        "ratios": {},
    }
    rate = {e: v["pages_per_second"] for e, v in engines.items() if v["pages_per_second"]}
    if "dossier" in rate:
        for anchor in ("ocrmypdf", "tesseract"):
            if anchor in rate:
                report["ratios"][f"dossier/{anchor}"] = round(rate["dossier"] / rate[anchor], 3)
    report["per_page_cer"] = {
        p.name: {
            e: round(cer(by_engine[e][-1].texts.get(p.name, ""), p.truth), 4) for e in by_engine
        }
        for p in pages
        if p.truth
    }
    return report


def print_table(report: dict) -> None:
    print(f"{report['pages']} pages, {report['jobs']} jobs, load average {report['loadavg']:.2f}")
    print(
        f"{'engine':<20}{'seconds':>9}{'pages/s':>9}{'CPU/page':>9}"
        f"{'CER med':>9}{'CER all':>9}  note"
    )
    for engine, v in report["engines"].items():
        note = v["error"] or (
            "" if v["pages_read"] == report["pages"] else f"{v['pages_read']} pages read"
        )
        print(
            f"{engine:<20}{v['seconds']:>9.1f}{v['pages_per_second'] or 0:>9.3f}"
            f"{v['cpu_per_page'] or 0:>9.2f}"
            f"{v['cer_median'] if v['cer_median'] is not None else '-':>9}"
            f"{v['cer_overall'] if v['cer_overall'] is not None else '-':>9}  {note}"
        )
    for name, value in report["ratios"].items():
        print(f"{name} pages/s: {value:.2f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ocr_bench", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--pages",
        type=Path,
        help="folder of documents with NAME.json ground truth (default samples/)",
    )
    parser.add_argument("--generate", type=int, default=0, help="use N synthetic pages instead")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--lang", default="vie+eng")
    parser.add_argument(
        "--engines", default=",".join(ENGINES), help=f"comma list of {', '.join(ENGINES)}"
    )
    parser.add_argument("--limit", type=int, help="at most this many pages")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per engine; the median time counts"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)

    folder = Path(tempfile.mkdtemp(prefix="bench-pages-"))
    try:
        if args.generate:
            pages = generated_pages(folder, args.generate)
        else:
            pages = pages_from_samples(args.pages or ROOT / "samples", folder, args.limit)
        if not pages:
            print("no pages with ground truth found", file=sys.stderr)
            return 2
        runs: list[EngineRun] = []
        for _ in range(args.repeat):
            for engine in args.engines.split(","):
                print(f"running {engine} on {len(pages)} pages...", file=sys.stderr, flush=True)
                if engine == "tesseract":
                    runs.append(run_tesseract(folder, pages, args.jobs, args.lang))
                elif engine in ("dossier", "dossier-no-cleanup"):
                    cleanup = engine == "dossier"
                    runs.append(run_dossier(folder, pages, args.jobs, args.lang, cleanup=cleanup))
                elif engine == "ocrmypdf":
                    runs.append(run_ocrmypdf(folder, pages, args.jobs, args.lang))
                else:
                    parser.error(f"unknown engine {engine}")
                last = runs[-1]
                print(
                    f"  {engine}: {last.seconds:.1f} s, CPU {last.cpu or 0:.1f} s, "
                    f"load {os.getloadavg()[0]:.2f} {last.error or ''}",
                    file=sys.stderr,
                )
        report = summarize(runs, pages, args.jobs)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=1))
    else:
        print_table(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
