"""Local stand-ins for the base images ``services/Dockerfile`` names, for a machine that reaches
Debian's mirror and PyPI but no container registry.

- ``python:<version>-slim-bookworm``: ``debootstrap --variant=minbase bookworm`` with Debian's
  ``python3.11`` (from the mirror apt is configured with), ``python``/``python3``/
  ``python3.11`` linked into ``/usr/local/bin`` where the official image has them, imported with
  ``docker import``.
- ``ghcr.io/astral-sh/uv:<version>``: ``/uv`` and ``/uvx`` out of uv's musllinux wheel of that
  version on PyPI (the static binaries the official image holds), imported the same way.

The Python stand-in also trusts this machine's own CAs (``trust_local_cas``): here HTTPS goes
through an intercepting proxy, which ``uv sync`` in the Dockerfile's ``RUN`` steps must pass.

Each is tagged with the exact name the Dockerfile's ``FROM`` gives, so the Dockerfile builds
unchanged. A stand-in carries the label ``org.batchpipe.standin`` (a digest of its name and of
this module): it is built again only when this module changes, and an image of that name
without the label (the real one, pulled by someone) is left alone. Run as root (debootstrap).
``python -m tests.images.standins`` builds them by hand.
"""

from __future__ import annotations

import hashlib
import platform
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.docker.model import SERVICES_DOCKERFILE, Dockerfile

LABEL = "org.batchpipe.standin"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
SUITE = "bookworm"
PYPI_SIMPLE = "https://pypi.org/simple"
PYTHON = "python3.11"
LOCAL_CA_DIR = Path("/usr/local/share/ca-certificates")
LOCAL_CAS = sorted(LOCAL_CA_DIR.glob("*.crt"))
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
_SOURCES = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]


class StandinError(RuntimeError):
    """A stand-in could not be built (the message says which step and why)."""


def run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    """Run a command; a failure names the command and ends with its output."""
    result = subprocess.run(argv, capture_output=True, check=False, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        output = (result.stdout + result.stderr).decode(errors="replace")[-3000:]
        raise StandinError(f"{' '.join(argv[:4])} ... exited {result.returncode}:\n{output}")
    return result  # type: ignore[no-any-return]


def debian_mirror(sources: list[Path] = _SOURCES) -> str:
    """The Debian mirror apt uses for ``bookworm`` main (deb822 or one-line sources)."""
    for path in sources:
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        for stanza in re.split(r"\n\s*\n", text):
            fields: dict[str, str] = dict(re.findall(r"^(\w[\w-]*):\s*(.+)$", stanza, re.MULTILINE))
            suites = fields.get("Suites", "").split()
            if SUITE in suites and "main" in fields.get("Components", "").split():
                return fields["URIs"].split()[0].rstrip("/")
        for line in text.splitlines():
            words = [w for w in line.split() if not w.startswith("[")]
            if len(words) >= 4 and words[0] == "deb" and words[2] == SUITE and "main" in words[3:]:
                return words[1].rstrip("/")
    return DEFAULT_MIRROR


def image_labels(docker: str, tag: str) -> dict[str, str] | None:
    """The labels of a local image, or None when there is no image of that name."""
    result = subprocess.run(
        [docker, "image", "inspect", "--format", "{{json .Config.Labels}}", tag],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        return None
    import json

    labels = json.loads(result.stdout.strip() or "null")
    return labels or {}


def docker_import(docker: str, rootfs: Path, tag: str, changes: list[str]) -> None:
    """``tar`` of ``rootfs`` into ``docker import`` with Dockerfile ``changes``."""
    argv = [docker, "import"]
    for change in changes:
        argv += ["--change", change]
    tar = subprocess.Popen(
        ["tar", "--numeric-owner", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE
    )
    try:
        run([*argv, "-", tag], stdin=tar.stdout)
    finally:
        assert tar.stdout is not None
        tar.stdout.close()
        if tar.wait() != 0:
            raise StandinError(f"tar of {rootfs} failed")


def build_python(docker: str, tag: str, digest: str, scratch: Path) -> None:
    rootfs = scratch / "rootfs"
    mirror = debian_mirror()
    packages = f"--include={PYTHON},ca-certificates"  # the official slim image has both
    run(["debootstrap", "--variant=minbase", packages, SUITE, str(rootfs), mirror])
    local_cas = trust_local_cas(rootfs)
    local_bin = rootfs / "usr" / "local" / "bin"
    local_bin.mkdir(parents=True, exist_ok=True)
    for name in (PYTHON, "python3", "python"):
        (local_bin / name).symlink_to(f"/usr/bin/{PYTHON}")
    # what the slim image leaves out: apt's lists and downloads, documentation
    for folder in ("var/lib/apt/lists", "var/cache/apt/archives", "usr/share/doc", "usr/share/man"):
        run(["find", str(rootfs / folder), "-mindepth", "1", "-not", "-name", "partial", "-delete"])
    version = run(
        ["chroot", str(rootfs), PYTHON, "-c", "import platform; print(platform.python_version())"]
    )
    docker_import(
        docker,
        rootfs,
        tag,
        [
            "ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
            "ENV LANG=C.UTF-8",
            f"ENV PYTHON_VERSION={version.stdout.decode().strip()}",
            f"LABEL {LABEL}={digest} {LABEL}.source=debootstrap:{SUITE}:{mirror}",
            'CMD ["python3"]',
            *([f"ENV SSL_CERT_FILE={CA_BUNDLE}"] if local_cas else []),
        ],
    )


def trust_local_cas(rootfs: Path) -> list[str]:
    """This machine's own CAs (``/usr/local/share/ca-certificates``) added to the image's
    bundle, so that uv in a ``RUN`` step gets through an HTTPS-intercepting proxy as the host
    does; uv trusts its built-in roots unless ``SSL_CERT_FILE`` names a bundle."""
    names = []
    for cert in LOCAL_CAS:
        (rootfs / cert.relative_to("/")).write_bytes(cert.read_bytes())
        names.append(cert.name)
    if names:
        run(["chroot", str(rootfs), "update-ca-certificates"])
    return names


def build_uv(docker: str, tag: str, digest: str, scratch: Path) -> None:
    version = tag.rsplit(":", 1)[1]
    machine = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}
    arch = machine[platform.machine().lower()]
    wheel = pypi_wheel("uv", version, f"musllinux_1_1_{arch}", scratch)
    rootfs = scratch / "rootfs"
    rootfs.mkdir()
    with zipfile.ZipFile(wheel) as archive:
        for name in ("uv", "uvx"):
            target = rootfs / name
            target.write_bytes(archive.read(f"uv-{version}.data/scripts/{name}"))
            target.chmod(0o755)
    docker_import(
        docker,
        rootfs,
        tag,
        [
            "ENV PATH=/",
            f"LABEL {LABEL}={digest} {LABEL}.source=pypi:{wheel.name}",
            'ENTRYPOINT ["/uv"]',
        ],
    )


def pypi_wheel(project: str, version: str, platform_tag: str, folder: Path) -> Path:
    """Download the release's wheel for ``platform_tag`` from PyPI, checked against its sha256."""
    index = httpx.get(
        f"{PYPI_SIMPLE}/{project}/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},  # PEP 691
        timeout=60,
        follow_redirects=True,
    )
    index.raise_for_status()
    name = f"{project}-{version}-"
    files = [
        f
        for f in index.json()["files"]
        if f["filename"].startswith(name) and f["filename"].endswith(f"{platform_tag}.whl")
    ]
    if len(files) != 1:
        raise StandinError(f"PyPI has {len(files)} {project} {version} wheels for {platform_tag}")
    path = folder / str(files[0]["filename"])
    digest = hashlib.sha256()
    with httpx.stream("GET", files[0]["url"], timeout=300, follow_redirects=True) as response:
        response.raise_for_status()
        with path.open("wb") as out:
            for block in response.iter_bytes():
                digest.update(block)
                out.write(block)
    if digest.hexdigest() != files[0]["hashes"]["sha256"]:
        raise StandinError(f"{path.name}: sha256 differs from PyPI's")
    return path


@dataclass(frozen=True)
class Standin:
    tag: str
    build: Callable[[str, str, str, Path], None]

    @property
    def digest(self) -> str:
        """What the image is made of: its name, this module, which makes it, and the machine's
        own CAs (see ``trust_local_cas``)."""
        recipe = b"".join([self.tag.encode(), Path(__file__).read_bytes()])
        recipe += b"".join(cert.read_bytes() for cert in LOCAL_CAS)
        return hashlib.sha256(recipe).hexdigest()[:16]


def standins(dockerfile: Path = SERVICES_DOCKERFILE) -> list[Standin]:
    """One stand-in per external base image of the Dockerfile (its ``FROM`` names)."""
    parsed = Dockerfile.parse(dockerfile)
    stage_names = {stage.name for stage in parsed.stages}
    found: dict[str, Standin] = {}
    for stage in parsed.stages:
        base = stage.base
        if base in stage_names or base in found:
            continue
        if base.startswith("python:") and "-slim-bookworm" in base:
            found[base] = Standin(base, build_python)
        elif base.startswith("ghcr.io/astral-sh/uv:"):
            found[base] = Standin(base, build_uv)
        else:
            raise StandinError(f"no stand-in recipe for the base image {base} of {dockerfile}")
    return list(found.values())


def ensure_standins(docker: str, report: Callable[[str], None] = print) -> list[str]:
    """Build the stand-ins that are missing or outdated; the tags that were built."""
    built = []
    for standin in standins():
        labels = image_labels(docker, standin.tag)
        if labels is not None and labels.get(LABEL) in (standin.digest, None):
            state = "cached stand-in" if labels.get(LABEL) else "not a stand-in, kept"
            report(f"{standin.tag}: {state}")
            continue
        report(f"{standin.tag}: building the stand-in")
        with tempfile.TemporaryDirectory(prefix="batchpipe-standin-") as scratch:
            standin.build(docker, standin.tag, standin.digest, Path(scratch))
        built.append(standin.tag)
    return built


if __name__ == "__main__":
    ensure_standins(sys.argv[1] if len(sys.argv) > 1 else "docker")
