"""docker/ checked statically (there is no Docker engine on these machines): the compose
file parses and wires what a province's server needs; the Dockerfile installs what the
README promises; no secret is committed."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
DOCKER = REPO / "docker"
TESSERACT_PACKAGES = {"tesseract-ocr", "tesseract-ocr-vie", "tesseract-ocr-eng"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def dockerfile() -> str:
    return (DOCKER / "Dockerfile").read_text(encoding="utf-8")


def _instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", dockerfile)
    result = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            result.append((word.upper(), rest.strip()))
    return result


def _apt_packages(dockerfile: str) -> set[str]:
    packages: set[str] = set()
    for word, rest in _instructions(dockerfile):
        if word == "RUN":
            for command in re.split(r"&&|;", rest):
                if "apt-get install" in command:
                    packages |= {t for t in command.split() if re.fullmatch(r"[a-z0-9.+-]+", t)}
    return packages - {"apt-get", "install"}


def test_compose_services_ports_volumes(compose: dict[str, Any]) -> None:
    """GIVEN docker/compose.yaml THEN it names an Elasticsearch 9 service with security
    on, a health check, a data volume and memory settings, and the app waits for it."""
    services = compose["services"]
    assert set(services) >= {"elasticsearch", "app"}
    es = services["elasticsearch"]
    assert re.fullmatch(r"docker\.elastic\.co/elasticsearch/elasticsearch:9\.\d+\.\d+", es["image"])
    env = es["environment"]
    assert env["xpack.security.enabled"] == "true"
    assert env["discovery.type"] == "single-node"
    assert env["ELASTIC_PASSWORD"].startswith("${ELASTIC_PASSWORD")
    assert "-Xms" in env["ES_JAVA_OPTS"] and "-Xmx" in env["ES_JAVA_OPTS"]
    assert "mem_limit" in es
    assert es["ulimits"]["memlock"]["hard"] == -1
    assert any(
        v.split(":")[0] == "es-data" and "/usr/share/elasticsearch/data" in v for v in es["volumes"]
    )
    assert any(str(p).endswith(":9200") for p in es["ports"])
    health = " ".join(es["healthcheck"]["test"])
    assert "_cluster/health" in health and "ELASTIC_PASSWORD" in health

    app = services["app"]
    assert app["depends_on"]["elasticsearch"]["condition"] == "service_healthy"
    assert app["build"]["dockerfile"] == "docker/Dockerfile"
    assert (DOCKER / app["build"]["context"] / app["build"]["dockerfile"]).is_file()
    app_env = app["environment"]
    assert app_env["DOSSIER_INDEX"] == "elasticsearch"
    assert app_env["DOSSIER_ES_URL"] == "http://elasticsearch:9200"
    assert app_env["DOSSIER_ES_PASSWORD"].startswith("${ELASTIC_PASSWORD")
    assert any(":/data/store" in v for v in app["volumes"])
    assert any(str(p).endswith(":8000") for p in app["ports"])
    assert set(compose["volumes"]) >= {"es-data", "dossier-store"}


def test_compose_env_names_are_config_fields(compose: dict[str, Any]) -> None:
    """Every DOSSIER_* variable the app service sets is a Config field (a typo would be
    silently ignored otherwise)."""
    from dataclasses import fields

    from pipeline.config import Config

    names = {f"DOSSIER_{f.name.upper()}" for f in fields(Config)}
    for key in compose["services"]["app"]["environment"]:
        assert key in names, key


def test_no_secret_committed(compose: dict[str, Any]) -> None:
    """Passwords come from docker/.env (git-ignored); the example only names them."""
    example = (DOCKER / ".env.example").read_text(encoding="utf-8")
    assert re.search(r"^ELASTIC_PASSWORD=change-me", example, re.M)
    text = (DOCKER / "compose.yaml").read_text(encoding="utf-8")
    for match in re.finditer(r"(PASSWORD|API_KEY)\s*[:=]\s*(\S+)", text):
        assert match.group(2).startswith(("${", '"$${')), match.group(0)
    assert not (DOCKER / ".env").exists() or ".env" in (REPO / ".gitignore").read_text()


def test_dockerfile_installs_tesseract_and_runs_as_non_root(dockerfile: str) -> None:
    """GIVEN docker/Dockerfile THEN it installs Tesseract with Vietnamese and English data,
    installs the package itself and runs as an unprivileged user."""
    steps = _instructions(dockerfile)
    assert steps[0][0] == "FROM" and "python:3.11" in steps[0][1]
    assert _apt_packages(dockerfile) >= TESSERACT_PACKAGES
    runs = " ".join(rest for word, rest in steps if word == "RUN")
    assert re.search(r"pip install [^&]*\.(\s|$)", runs)
    users = [rest for word, rest in steps if word == "USER"]
    assert users and users[-1] not in {"root", "0"}
    assert "useradd" in runs
    copied = " ".join(rest for word, rest in steps if word == "COPY")
    for package in ("pipeline", "ocr", "indexer", "web", "cli.py", "pyproject.toml"):
        assert package in copied
    assert any(word == "CMD" and "dossier" in rest for word, rest in steps)


def test_dockerfile_installs_what_the_readme_names(dockerfile: str) -> None:
    """The Tesseract packages the README tells users to install are the ones the image
    installs (so a province's server reads what a developer's machine reads)."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    named = set(re.findall(r"\btesseract-ocr(?:-[a-z_]+)?\b", readme))
    assert named >= TESSERACT_PACKAGES, "the README no longer names the Tesseract packages"
    assert named <= _apt_packages(dockerfile)


def test_dockerignore_keeps_local_state_out() -> None:
    ignored = (DOCKER / "Dockerfile.dockerignore").read_text(encoding="utf-8").split()
    assert {".venv", ".es", ".git", "docker/.env"} <= set(ignored)
