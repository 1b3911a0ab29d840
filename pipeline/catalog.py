"""Open the catalog a Config names: the embedded SQLite file in the store (default), or
an Elasticsearch cluster when one machine is not enough. Both implement indexer.base.Index."""

from __future__ import annotations

from typing import Any

from indexer.sqlite import SqliteIndex
from pipeline.config import Config
from pipeline.errors import DossierError

BACKENDS = ("sqlite", "elasticsearch")


def open_index(cfg: Config, *, readonly: bool = False) -> Any:
    """The catalog for this configuration. `readonly` is for worker processes, which only
    look things up (the batch process is the one writer)."""
    if cfg.index == "elasticsearch":
        from indexer.elasticsearch import ElasticsearchIndex

        return ElasticsearchIndex.from_config(cfg, readonly=readonly)
    if cfg.index != "sqlite":
        raise DossierError(
            f"Unknown catalog backend {cfg.index!r}.",
            hint=f"Use one of: {', '.join(BACKENDS)} (--index or DOSSIER_INDEX).",
        )
    return SqliteIndex(cfg.catalog_path, readonly=readonly)


def catalog_exists(cfg: Config) -> bool:
    """Whether there is anything to look up yet (a cluster is always there to ask)."""
    return cfg.index != "sqlite" or cfg.catalog_path.exists()
