# dossier: the two commands a new user needs are `make demo` and `make test`.
# Both set everything up first (Debian packages when missing, a virtualenv, the package).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STORE  ?= demo-store
JOBS   ?= $(shell nproc)
# Debian packages the pipeline needs at run time (Tesseract 5 with Vietnamese, English and
# orientation data), plus what the benchmark's OCRmyPDF run needs (ghostscript, unpaper)
# and the browser the web interface's end-to-end tests drive (chromium, chromium-driver).
APT_PACKAGES := tesseract-ocr tesseract-ocr-vie tesseract-ocr-eng tesseract-ocr-osd \
                ghostscript unpaper chromium chromium-driver
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: setup system-packages venv bytecode demo test test-fast lint bench es-start es-stop clean

setup: system-packages $(BIN)/dossier bytecode

system-packages:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(BIN)/dossier: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

venv: $(BIN)/dossier

# The editable install leaves our own modules uncompiled, and where PYTHONDONTWRITEBYTECODE
# is set every dossier process (CLI, page-worker server) compiled them again: ~0.25 s of
# CPU per start. Python reads these files even then, and ignores one older than its source.
bytecode: $(BIN)/dossier
	@PYTHONDONTWRITEBYTECODE= $(BIN)/python -m compileall -q cli.py pipeline ocr indexer web bench >/dev/null

## The main job: ingest the committed samples into a fresh store, summary and a search.
demo: setup
	rm -rf $(STORE)
	$(BIN)/dossier ingest samples --store $(STORE) --jobs $(JOBS)
	$(BIN)/dossier search "nguyen van" --store $(STORE) --limit 3

## The whole test suite, slow tests and the real Elasticsearch server included.
test: setup es-start
	@status=0; DOSSIER_ES_URL=http://127.0.0.1:$${DOSSIER_ES_PORT:-9200} \
	  $(BIN)/pytest -q -p no:cacheprovider --timeout=900 || status=$$?; \
	  tests/es_server.sh stop all; exit $$status

## Without Elasticsearch and the slow tests, for a quick check while editing.
test-fast: setup
	$(BIN)/pytest -q -m "not slow and not elasticsearch"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: setup
	$(BIN)/python -m bench.ocr_bench --jobs $(JOBS)

es-start:
	tests/es_server.sh start all

es-stop:
	tests/es_server.sh stop all

clean:
	rm -rf $(STORE) build *.egg-info .pytest_cache
