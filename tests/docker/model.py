"""Read the Docker packaging as an engine would, without one.

- ``compose_file(env)``: docker-compose.yml with YAML anchors and merge keys resolved and
  ``${VAR}`` interpolated the way Compose does it (``$$`` escapes, ``:-``/``-`` defaults,
  ``:?``/``?`` required, ``:+``/``+`` alternatives).
- ``example_env()``: the variables of a ``.env`` written by ``infra/docker/write-env.sh`` from
  ``.env.example``, i.e. what a user gets from ``make up``.
- ``Dockerfile``: instructions (continuation lines joined, comments dropped) by build stage.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from batchpipe_common.settings import REPO_ROOT

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
WRITE_ENV = REPO_ROOT / "infra" / "docker" / "write-env.sh"
SERVICES_DOCKERFILE = REPO_ROOT / "services" / "Dockerfile"
"""The one Dockerfile of every batchpipe Python image (build arg ``PACKAGE``)."""
AIRFLOW_DOCKERFILE = REPO_ROOT / "orchestration" / "Dockerfile"
ALL_DOCKERFILES = (SERVICES_DOCKERFILE, AIRFLOW_DOCKERFILE)
SERVICE_PORT = 8000
"""The port every batchpipe service container listens on."""
CONTAINER_HOST = "0.0.0.0"  # noqa: S104 - a container listens on its own network namespace
"""The host a service binds to inside its container."""

_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<named>[A-Za-z_][A-Za-z0-9_]*))"
)


class InterpolationError(ValueError):
    """A required variable (``${VAR:?message}``) is unset or empty."""


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's variable substitution of one string."""

    def substitute(match: re.Match[str]) -> str:
        if match.group("escaped"):
            return "$"
        name = match.group("braced") or match.group("named")
        op, arg = match.group("op"), match.group("arg") or ""
        value = env.get(name)
        present = value is not None and (value != "" or op is None or not op.startswith(":"))
        if op in (":-", "-"):
            return value if present and value is not None else arg
        if op in (":?", "?"):
            if not present or value is None:
                raise InterpolationError(f"{name}: {arg}")
            return value
        if op in (":+", "+"):
            return arg if present else ""
        return value or ""

    return _VARIABLE.sub(substitute, text)


def variables_used(text: str) -> dict[str, bool]:
    """Every variable the text interpolates, with whether it has a default (``:-``/``-``)."""
    used: dict[str, bool] = {}
    for match in _VARIABLE.finditer(text):
        name = match.group("braced") or match.group("named")
        if name:
            has_default = match.group("op") in (":-", "-")
            used[name] = used.get(name, False) or has_default
    return used


def _interpolate_tree(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [_interpolate_tree(item, env) for item in node]
    if isinstance(node, dict):
        return {key: _interpolate_tree(value, env) for key, value in node.items()}
    return node


def raw_compose() -> dict[str, Any]:
    """docker-compose.yml as YAML (anchors and ``<<`` merges resolved), not interpolated."""
    data: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return data


def compose_file(env: Mapping[str, str]) -> dict[str, Any]:
    result: dict[str, Any] = _interpolate_tree(raw_compose(), env)
    return result


def load_script_module(path: Path) -> ModuleType:
    """Import a Python file that is not in a package (an init script, a config module)."""
    spec = importlib.util.spec_from_file_location(f"_batchpipe_docker_{path.stem}", path)
    assert spec and spec.loader, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def read_env_file(path: Path) -> dict[str, str]:
    """A ``.env`` file as Compose reads it (``KEY=VALUE`` lines, ``#`` comments)."""
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            env[key.strip()] = value.strip()
    return env


@cache
def example_env() -> dict[str, str]:
    """The ``.env`` a user gets: write-env.sh run on .env.example (in a scratch folder)."""
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        target = Path(scratch) / ".env"
        subprocess.run(
            ["sh", str(WRITE_ENV), str(ENV_EXAMPLE), str(target)],
            check=True,
            capture_output=True,
            text=True,
        )
        return read_env_file(target)


def services(env: Mapping[str, str] | None = None) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = compose_file(env or example_env())["services"]
    return result


def environment_of(service: Mapping[str, Any]) -> dict[str, str]:
    """A service's ``environment`` (mapping or list form) as strings."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.split("=", 1) for item in env)
        return {key: value for key, value in pairs}
    return {key: "" if value is None else str(value) for key, value in env.items()}


def build_args(service: Mapping[str, Any]) -> dict[str, str]:
    """A service's ``build.args`` (mapping form) as strings."""
    args = (service.get("build") or {}).get("args") or {}
    return {key: str(value) for key, value in args.items()}


def secret_sources(compose: Mapping[str, Any] | None = None) -> dict[str, str]:
    """``{secret name: the .env variable it is made of}`` (top-level ``secrets:``)."""
    top = (compose or raw_compose()).get("secrets") or {}
    return {name: str(spec["environment"]) for name, spec in top.items()}


def mounted_secrets(service: Mapping[str, Any]) -> dict[str, str]:
    """``{file name in /run/secrets: secret name}`` of a service (short and long forms)."""
    mounted = {}
    for item in service.get("secrets") or []:
        if isinstance(item, str):
            mounted[item] = item
        else:
            mounted[str(item.get("target") or item["source"])] = str(item["source"])
    return mounted


def write_secret_files(service: Mapping[str, Any], env: Mapping[str, str], folder: Path) -> Path:
    """The service's ``/run/secrets`` as compose would fill it from ``env`` (a ``.env``)."""
    sources = secret_sources()
    folder.mkdir(parents=True, exist_ok=True)
    for target, name in mounted_secrets(service).items():
        (folder / target).write_text(env[sources[name]])
    return folder


def one_shot_services(all_services: Mapping[str, Mapping[str, Any]]) -> set[str]:
    """Services others wait for with ``service_completed_successfully`` (they run and exit)."""
    names = set()
    for service in all_services.values():
        for name, dependency in (service.get("depends_on") or {}).items():
            if dependency.get("condition") == "service_completed_successfully":
                names.add(name)
    return names


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def env(self) -> dict[str, str]:
        """The stage's ``ENV`` settings (``KEY=VALUE`` form, quotes removed)."""
        values: dict[str, str] = {}
        for args in self.all("ENV"):
            for token in shlex.split(args):
                key, _, value = token.partition("=")
                values[key] = value
        return values

    def exec_form(self, keyword: str) -> list[str]:
        """The last ``CMD``/``ENTRYPOINT``/... of the stage, which must be in JSON (exec) form."""
        found = self.all(keyword)
        if not found:
            raise LookupError(f"stage {self.name} has no {keyword}")
        value: list[str] = json.loads(found[-1])
        return value


@dataclass
class Dockerfile:
    path: Path
    stages: list[Stage]

    @classmethod
    def parse(cls, path: Path) -> Dockerfile:
        stages: list[Stage] = []
        logical = ""
        for raw in path.read_text().splitlines():
            stripped = raw.strip()
            if not logical and (not stripped or stripped.startswith("#")):
                continue
            if stripped.startswith("#"):
                continue
            if stripped.endswith("\\"):
                logical += stripped[:-1] + " "
                continue
            logical += stripped
            keyword, _, args = logical.partition(" ")
            keyword, args = keyword.upper(), args.strip()
            logical = ""
            if keyword == "FROM":
                words = args.split()
                name = words[2] if len(words) == 3 and words[1].upper() == "AS" else words[0]
                stages.append(Stage(name=name, base=words[0]))
            elif stages:
                stages[-1].instructions.append((keyword, args))
        return cls(path=path, stages=stages)

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)

    def copy_sources(self) -> list[str]:
        """Paths ``COPY`` takes from the build context (not from another stage)."""
        sources = []
        for stage in self.stages:
            for args in stage.all("COPY"):
                words = [w for w in shlex.split(args) if not w.startswith("--")]
                if any(w.startswith("--from=") for w in shlex.split(args)):
                    continue
                sources.extend(words[:-1])
        return sources
