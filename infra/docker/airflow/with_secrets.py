"""The Airflow image's entrypoint: fill secrets from files into the environment, then exec.

docker compose mounts each secret as a file in ``/run/secrets`` (``BATCHPIPE_SECRETS_DIR``),
so no secret is in the container's configuration (``docker inspect``). The compose file's
environment names them instead: a value such as
``postgresql+psycopg2://airflow:${PG_AIRFLOW_PASSWORD}@postgres:5432/airflow`` gets the content
of the file ``pg_airflow_password``. Only names of existing secret files are replaced; any
other ``${...}`` stays as it is. Then it execs its arguments (the official ``/entrypoint``).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path

PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")


def read_secrets(folder: Path) -> dict[str, str]:
    """``{FILE_NAME_IN_UPPER_CASE: content without the trailing newline}``."""
    if not folder.is_dir():
        return {}
    return {
        path.name.upper(): path.read_text().rstrip("\n")
        for path in sorted(folder.iterdir())
        if path.is_file()
    }


def fill(environ: Mapping[str, str], secrets: Mapping[str, str]) -> dict[str, str]:
    """The variables whose value names a secret, with the secret put in."""

    def substitute(match: re.Match[str]) -> str:
        return secrets.get(match.group(1), match.group(0))

    filled = {}
    for key, value in environ.items():
        new = PLACEHOLDER.sub(substitute, value)
        if new != value:
            filled[key] = new
    return filled


def main(argv: list[str]) -> None:
    if not argv:
        sys.exit("with_secrets: no command to run")
    folder = Path(os.environ.get("BATCHPIPE_SECRETS_DIR") or "/run/secrets")
    os.environ.update(fill(os.environ, read_secrets(folder)))
    os.execvp(argv[0], argv)  # noqa: S606 - an entrypoint replaces itself with its command


if __name__ == "__main__":
    main(sys.argv[1:])
