"""The Tesseract wrapper: the only place that runs Tesseract for page OCR (in-process
through tesserocr when it loads, else the program through pytesseract).

A version and language probe, one OCR pass per page that yields words with boxes AND a
one-page searchable PDF, and orientation detection (OSD). Failures become specific
errors; a timeout degrades to an empty page with a warning, never a crashed batch.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import pytesseract

from pipeline.errors import MissingDependencyError
from pipeline.model import Word

log = logging.getLogger(__name__)

# Tesseract's TSV header (the library's GetTSVText gives the rows only).
_TSV_HEADER = (
    "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\t"
    "left\ttop\twidth\theight\tconf\ttext\n"
)
# Page OCR skips textord's fixed-pitch test (typewriter-like rows cut into cells): the
# LSTM reads the words either way. Measured on the 25 sample pages: the same TSV on
# every page, 3 % fewer Tesseract instructions (callgrind).
_PAGE_VARIABLES = {"textord_disable_pitch_test": "1"}
_PACKAGE_FOR = {"vie": "tesseract-ocr-vie", "eng": "tesseract-ocr-eng", "osd": "tesseract-ocr-osd"}


@dataclass(frozen=True)
class TesseractInfo:
    version: str
    languages: tuple[str, ...]
    datapath: str | None = None  # folder of the installed .traineddata files


@dataclass
class OcrResult:
    words: list[Word] = field(default_factory=list)
    pdf: bytes | None = None  # one-page searchable PDF of the image that was read
    warnings: list[str] = field(default_factory=list)
    timed_out: bool = False


def _use(cmd: str) -> None:
    pytesseract.pytesseract.tesseract_cmd = cmd


@lru_cache(maxsize=8)
def probe(cmd: str = "tesseract") -> TesseractInfo:
    """Version and installed languages; a clear error when Tesseract is missing."""
    try:
        version = subprocess.run(
            [cmd, "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
        langs = subprocess.run(
            [cmd, "--list-langs"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (FileNotFoundError, PermissionError) as exc:
        raise MissingDependencyError(
            f"Tesseract is not installed (could not run '{cmd}').",
            hint="Install it: sudo apt-get install tesseract-ocr tesseract-ocr-vie "
            "tesseract-ocr-eng (or run 'make setup').",
        ) from exc
    except subprocess.SubprocessError as exc:
        raise MissingDependencyError(f"Tesseract ('{cmd}') does not start: {exc}") from exc
    first = version.splitlines()[0] if version else "tesseract ?"
    installed = tuple(
        line.strip() for line in langs.splitlines()[1:] if line.strip() and " " not in line
    )
    found = re.search(r'"([^"]+)"', langs)
    return TesseractInfo(first.split()[-1], installed, found.group(1) if found else None)


def check_languages(lang: str, cmd: str = "tesseract") -> TesseractInfo:
    """Raise MissingDependencyError naming the installed languages and the package to
    install when any language of `lang` ("vie+eng") is missing."""
    info = probe(cmd)
    missing = [code for code in lang.split("+") if code and code not in info.languages]
    if missing:
        packages = " ".join(_PACKAGE_FOR.get(code, f"tesseract-ocr-{code}") for code in missing)
        raise MissingDependencyError(
            f"Tesseract language data missing: {', '.join(missing)} "
            f"(installed: {', '.join(info.languages) or 'none'}).",
            hint=f"Install it: sudo apt-get install {packages}",
        )
    return info


def _parse_tsv(tsv: str) -> list[Word]:
    """Word rows of Tesseract's TSV; line ids numbered in reading order."""
    words: list[Word] = []
    line_ids: dict[tuple[str, str, str, str], int] = {}
    reader = csv.DictReader(io.StringIO(tsv), delimiter="\t", quoting=csv.QUOTE_NONE)
    for row in reader:
        if row.get("level") != "5":
            continue
        text = (row.get("text") or "").strip()
        if not text:
            continue
        key = (row["page_num"], row["block_num"], row["par_num"], row["line_num"])
        line_id = line_ids.setdefault(key, len(line_ids))
        left, top = int(row["left"]), int(row["top"])
        width, height = int(row["width"]), int(row["height"])
        conf = max(float(row["conf"]), 0.0)
        words.append(Word(text, (left, top, left + width, top + height), conf, line_id))
    return words


def write_page_image(image: np.ndarray, base: Path) -> Path:
    """Write the page for Tesseract in the cheapest form it reads: a two-tone page as a
    1-bit PBM, anything else as an uncompressed PGM (or PPM). Measured on the samples:
    writing a 300-dpi page takes 10 ms instead of 130 ms for a fast PNG, and Tesseract
    spends 17 % less CPU on a 1-bit page (no thresholding of its own, and its PDF renderer
    stores the page as CCITT G4 instead of re-encoding it as JPEG), with the same words."""
    if image.ndim == 2 and cv2.countNonZero(cv2.inRange(image, 1, 254)) == 0:
        path = base.with_suffix(".pbm")
        height, width = image.shape
        with path.open("wb") as handle:
            handle.write(b"P4\n%d %d\n" % (width, height))
            handle.write(np.packbits(image < 128, axis=1).tobytes())  # PBM: 1 is black
        return path
    path = base.with_suffix(".pgm" if image.ndim == 2 else ".ppm")
    cv2.imwrite(str(path), image)
    return path


_local = threading.local()  # this thread's in-process Tesseracts, by configuration


def _library(lang: str, psm: int, try_inverted: bool, cmd: str):
    """This thread's in-process Tesseract for (lang, psm, try_inverted), loaded once (the
    language data is read at load: ~0.07 s CPU a page saved), or None when tesserocr
    does not load or a Tesseract program other than the default is configured (then the
    program runs, as configured). Never shared between threads."""
    if cmd != "tesseract":
        return None
    apis = getattr(_local, "apis", None)
    if apis is None:
        apis = _local.apis = {}
    key = (lang, psm, try_inverted)
    if key not in apis:
        apis[key] = None
        try:
            import tesserocr

            datapath = check_languages(lang, cmd).datapath
            if datapath is not None:
                api = tesserocr.PyTessBaseAPI(path=datapath, lang=lang, psm=psm)
                for name, value in _PAGE_VARIABLES.items() if psm else ():
                    api.SetVariable(name, value)
                if not try_inverted:
                    api.SetVariable("invert_threshold", "0")
                apis[key] = api
        except (ImportError, RuntimeError, MissingDependencyError) as exc:
            log.debug("in-process Tesseract unavailable (%s); running the program", exc)
    return apis[key]


def _ocr_in_process(
    api, source: Path, base: str, dpi: int, timeout: float, want_pdf: bool
) -> OcrResult:
    """One page through the loaded library: the same page file, TSV rows and PDF renderer
    as the program's `tsv pdf` run. Its timeout stops recognition (not layout analysis),
    which Tesseract checks between words."""
    milliseconds = max(1, int(timeout * 1000))
    api.SetVariable("user_defined_dpi", str(int(dpi)))
    try:
        if want_pdf:
            api.SetVariable("tessedit_create_pdf", "1")
            done = api.ProcessPages(base, str(source), timeout=milliseconds)
        else:
            api.SetImageFile(str(source))
            api.SetSourceResolution(int(dpi))
            done = api.Recognize(timeout=milliseconds)
        tsv = api.GetTSVText(0) if done else None
    finally:
        api.Clear()
    if not done:
        return OcrResult(
            warnings=[f"Tesseract gave up after {timeout:.0f} s; the page is kept unread."],
            timed_out=True,
        )
    words = _parse_tsv(_TSV_HEADER + (tsv or ""))
    pdf = Path(base + ".pdf").read_bytes() if want_pdf else None
    return OcrResult(words=words, pdf=pdf)


def ocr_image(
    image: np.ndarray,
    *,
    lang: str,
    dpi: int,
    timeout: float,
    want_pdf: bool = True,
    cmd: str = "tesseract",
    psm: int = 3,
    try_inverted: bool = True,
) -> OcrResult:
    """One Tesseract pass over a page image: words with boxes and confidences, and (one
    run, several outputs) a searchable one-page PDF of the same image.

    The pass runs in-process (tesserocr, loaded once per thread) when it can: measured on
    the 25 sample pages (cleaned, 2 workers), 0.62 instead of 1.06 CPU s/page for the
    program, whose every run loads the language data again (tesserocr's own Tesseract is
    also a newer release than the Debian program's: 5.5 against 5.3). Its words differ a
    little: CER 0.0799 -> 0.0809 overall on those pages, all of it one ID card page whose
    left column ("Có giá trị đến ...") 5.5 reads first (without it 0.0800 -> 0.0784);
    `dossier eval samples` field F1 0.962 -> 0.968.

    `try_inverted`: let Tesseract read its low-confidence lines again as white on black
    (its default). On a cleaned page (dark ink on white paper) those lines are seals,
    photos and specks: measured on the 25 sample pages, turning it off saves 22 % of
    Tesseract's CPU at the same CER (0.0798 -> 0.0799 overall, median 0.0905 -> 0.0893)."""
    with tempfile.TemporaryDirectory(prefix="dossier-ocr-") as tmp:
        source = write_page_image(image, Path(tmp) / "page")
        base = str(Path(tmp) / "out")
        api = _library(lang, psm, try_inverted, cmd)
        if api is not None:
            return _ocr_in_process(api, source, base, dpi, timeout, want_pdf)
        _use(cmd)
        extensions = "tsv pdf" if want_pdf else "tsv"
        config = f"--psm {psm} --dpi {int(dpi)} -c tessedit_create_tsv=1"
        config += "".join(f" -c {name}={value}" for name, value in _PAGE_VARIABLES.items())
        if not try_inverted:
            config += " -c invert_threshold=0"
        try:
            pytesseract.pytesseract.run_tesseract(
                str(source), base, extensions, lang, config=config, timeout=timeout
            )
        except RuntimeError as exc:
            if "timeout" not in str(exc).lower():
                raise
            return OcrResult(
                warnings=[f"Tesseract gave up after {timeout:.0f} s; the page is kept unread."],
                timed_out=True,
            )
        except pytesseract.TesseractNotFoundError as exc:
            raise MissingDependencyError(
                "Tesseract is not installed.", hint="sudo apt-get install tesseract-ocr"
            ) from exc
        words = _parse_tsv(Path(base + ".tsv").read_text(encoding="utf-8"))
        pdf = Path(base + ".pdf").read_bytes() if want_pdf else None
    return OcrResult(words=words, pdf=pdf)


def detect_orientation(
    image: np.ndarray, *, timeout: float = 30.0, cmd: str = "tesseract", characters: int = 0
) -> tuple[int, float]:
    """Tesseract OSD: (degrees to rotate clockwise to make the page upright, confidence).

    (0, 0.0) when OSD cannot decide (too little text), which callers treat as "leave it".
    `characters`: how many letters OSD reads at least before deciding (0: Tesseract's
    default, 50; fewer is faster and less sure).

    In-process when it can (as ocr_image): measured on an upside-down ID card page,
    0.30 s CPU instead of 0.95 for the program, which loads the 10 MB OSD data on every
    call; same answer and confidence. Its `timeout` then does not apply: OSD reads a
    few letters of a page of at most ~2000 px."""
    api = _library("osd", 0, True, cmd)
    if api is not None:
        api.SetVariable("min_characters_to_try", str(int(characters) or 50))
        with tempfile.TemporaryDirectory(prefix="dossier-osd-") as tmp:
            source = write_page_image(image, Path(tmp) / "page")
            try:
                api.SetImageFile(str(source))
                found = api.DetectOrientationScript()
            finally:
                api.Clear()
        if not found:
            return 0, 0.0
        # Tesseract's "Rotate" (clockwise to upright) from the text's orientation, and
        # the confidence to the program's two decimals (the same thresholds decide).
        return (360 - int(found["orient_deg"])) % 360, round(float(found["orient_conf"]), 2)
    _use(cmd)
    config = "--psm 0" + (f" -c min_characters_to_try={int(characters)}" if characters else "")
    with tempfile.TemporaryDirectory(prefix="dossier-osd-") as tmp:
        # A file path, not an array: pytesseract would write a compressed PNG.
        source = write_page_image(image, Path(tmp) / "page")
        try:
            osd = pytesseract.image_to_osd(
                str(source), config=config, output_type=pytesseract.Output.DICT, timeout=timeout
            )
        except (pytesseract.TesseractError, RuntimeError) as exc:
            log.debug("OSD could not decide: %s", exc)
            return 0, 0.0
    return int(osd.get("rotate", 0)) % 360, float(osd.get("orientation_conf", 0.0))


def limit_threads() -> None:
    """Call once in each OCR worker process: Tesseract's own OpenMP threads are slower
    than one single-threaded Tesseract per core on small machines."""
    os.environ["OMP_THREAD_LIMIT"] = "1"
