"""The one `Config`: built once (CLI options, then DOSSIER_* environment variables,
then defaults) and passed down. No stage reads the environment itself."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any


def _to_bool(text: str) -> bool:
    return text.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Config:
    store: Path = Path("dossier-data")
    index: str = "sqlite"  # sqlite | elasticsearch
    lang: str = "vie"  # measured better than vie+eng on Vietnamese forms (README, Extraction)
    jobs: int = field(default_factory=lambda: os.cpu_count() or 1)
    dpi: int = 300  # rasterizing resolution for scanned PDF pages
    cleanup: bool = True
    near_reuse: bool = True  # look for re-scans of stored pages before OCR
    page_timeout: float = 120.0  # seconds Tesseract may spend on one page
    max_pixels: int = 200_000_000  # larger images are refused as decompression bombs
    tesseract_cmd: str = "tesseract"
    es_url: str = "http://127.0.0.1:9200"
    es_index_prefix: str = "dossier"
    es_api_key: str | None = None
    es_username: str | None = None
    es_password: str | None = None
    es_ca_file: str | None = None
    cluster: str | None = None  # tcp://host:8786 of a Dask scheduler

    @property
    def catalog_path(self) -> Path:
        return self.store / "catalog.sqlite"

    def with_options(self, **options: Any) -> Config:
        """A copy with the options that were actually given (None means not given)."""
        given = {k: v for k, v in options.items() if v is not None}
        return replace(self, **given)


_ENV_PREFIX = "DOSSIER_"


def _parse(value: str, default: Any) -> Any:
    if isinstance(default, bool):
        return _to_bool(value)
    if isinstance(default, int):
        return int(value)
    if isinstance(default, float):
        return float(value)
    if isinstance(default, Path):
        return Path(value)
    return value


def from_environment(environ: Mapping[str, str], base: Config | None = None) -> Config:
    """Apply DOSSIER_<FIELD> variables (e.g. DOSSIER_STORE, DOSSIER_ES_URL) over `base`."""
    base = base or Config()
    values: dict[str, Any] = {}
    for f in fields(Config):
        raw = environ.get(_ENV_PREFIX + f.name.upper())
        if raw is None or raw == "":
            continue
        values[f.name] = _parse(raw, getattr(base, f.name))
    return replace(base, **values)
