"""Each service image's builder stage, rehearsed without an engine.

The stage's own instructions are replayed in a scratch folder: ``WORKDIR`` and ``COPY`` from
the build context (the repository), then its ``RUN uv sync ...`` lines exactly as written
(BuildKit's ``--mount`` flags aside), with its ``ENV``. The virtualenv they leave is what the
runtime stage copies, so it must hold the service's app and uvicorn, nothing of the CLI or the
dev tools, and its code must not point back at the source tree.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import string
import subprocess
import sys
from pathlib import Path

import pytest

from batchpipe_cli.stack.services import SERVICE_SPECS, ServiceSpec
from batchpipe_common.settings import REPO_ROOT
from tests.docker.model import SERVICES_DOCKERFILE, Dockerfile, Stage, build_args, services

pytestmark = pytest.mark.build


def _copy(stage: Stage, args: str, workdir: Path) -> None:
    words = [w for w in shlex.split(args) if not w.startswith("--")]
    *sources, dest = words
    target = workdir / dest
    for source in sources:
        origin = REPO_ROOT / source
        if origin.is_dir():
            shutil.copytree(origin, target, dirs_exist_ok=True)
        else:
            folder = target if dest.endswith("/") or len(sources) > 1 else target.parent
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, folder / origin.name if folder == target else target)


def rehearse_builder(dockerfile: Path, scratch: Path, arguments: dict[str, str]) -> Path:
    """Replay the builder stage into ``scratch`` with the build ``arguments``; returns the
    virtualenv it built."""
    uv = shutil.which("uv")
    assert uv, "uv is needed to rehearse the image build"
    builder = Dockerfile.parse(dockerfile).stage("builder")
    venv = scratch / "venv"
    env = {**os.environ, **builder.env()}
    env.update(UV_PROJECT_ENVIRONMENT=str(venv), UV_PYTHON=sys.executable)
    # build-time speed-ups, not behaviour: skipped here (hard links instead of copies)
    env.update(UV_COMPILE_BYTECODE="0", UV_LINK_MODE="hardlink")
    env.pop("VIRTUAL_ENV", None)
    for name in builder.all("ARG"):
        assert name in arguments, f"build argument {name} not given"
    env.update(arguments)
    workdir = scratch
    for keyword, args in builder.instructions:
        if keyword == "WORKDIR":
            workdir = scratch / args.lstrip("/")
            workdir.mkdir(parents=True, exist_ok=True)
        elif keyword == "COPY" and "--from=" not in args:
            _copy(builder, args, workdir)
        elif keyword == "RUN":
            command = re.sub(r"--mount=\S+\s*", "", args).strip()
            argv = shlex.split(string.Template(command).safe_substitute(arguments))
            assert argv[:2] == ["uv", "sync"], f"cannot rehearse RUN {command}"
            result = subprocess.run(
                [uv, *argv[1:]], cwd=workdir, env=env, capture_output=True, text=True, check=False
            )
            assert result.returncode == 0, f"{command}\n{result.stderr[-3000:]}"
    return venv


def _python(venv: Path, code: str, *argv: str) -> str:
    """The venv's Python on ``-c code``, or on ``argv`` when ``code`` is empty."""
    result = subprocess.run(
        [str(venv / "bin" / "python"), *(argv or ("-c", code))],
        capture_output=True,
        text=True,
        check=False,
        cwd=venv,
        env={"PATH": f"{venv / 'bin'}{os.pathsep}/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip()


@pytest.mark.parametrize("spec", SERVICE_SPECS, ids=[s.name for s in SERVICE_SPECS])
def test_builder_stage_installs_the_service_and_nothing_else(
    spec: ServiceSpec, tmp_path: Path
) -> None:
    venv = rehearse_builder(SERVICES_DOCKERFILE, tmp_path, build_args(services()[spec.name]))
    assert (venv / "bin" / "uvicorn").exists(), "the CMD's uvicorn"
    module, attribute = spec.app.split(":")
    where = _python(venv, f"import {module} as m; m.{attribute}; print(m.__file__)")
    assert where.startswith(str(venv)), f"{module} must be installed, not linked to {where}"
    found = _python(
        venv,
        "import importlib.util as u; "
        "print(','.join(m for m in ('batchpipe_cli', 'moto', 'pytest', 'mypy') if u.find_spec(m)))",
    )
    assert found == "", f"not for a service image: {found}"
    contracts = _python(
        venv,
        "from batchpipe_common.settings import EndpointSettings as E; "
        "print(E.model_fields['contracts_dir'].default_factory())",
    )
    assert contracts == "/app/contracts", "without a checkout, settings use the image's copy"


def test_demo_image_holds_the_demo_client(tmp_path: Path) -> None:
    """``make compose-demo`` runs the demo's entrypoint in the batchpipe-cli image."""
    demo = services()["demo"]
    venv = rehearse_builder(SERVICES_DOCKERFILE, tmp_path, build_args(demo))
    python, module_flag, module = demo["entrypoint"]
    assert (python, module_flag) == ("python", "-m")
    assert "--rows" in _python(venv, "", "-m", module, "--help")


def test_the_init_container_can_provision_from_its_image(tmp_path: Path) -> None:
    init = services()["init"]
    assert init["command"] == ["python", "-m", "batchpipe_common.provision"]
    venv = rehearse_builder(SERVICES_DOCKERFILE, tmp_path, build_args(init))
    found = _python(venv, "import batchpipe_common.provision.__main__ as m; print(m.main)")
    assert found.startswith("<function main")
