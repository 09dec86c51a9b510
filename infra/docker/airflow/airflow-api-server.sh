#!/usr/bin/env bash
# Airflow's API server in compose, with the admin's password from the environment. The simple
# auth manager reads passwords from a JSON file it must be able to write (it adds generated
# passwords for users missing there), so the file is written here, in the container, first.
set -euo pipefail

: "${AIRFLOW_ADMIN_USERNAME:?AIRFLOW_ADMIN_USERNAME is not set}"
: "${AIRFLOW_ADMIN_PASSWORD:?AIRFLOW_ADMIN_PASSWORD is not set}"
passwords_file="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE:?not set}"

umask 077
python - "$passwords_file" <<'PY'
import json
import os
import sys

with open(sys.argv[1], "w", encoding="utf-8") as fh:
    json.dump({os.environ["AIRFLOW_ADMIN_USERNAME"]: os.environ["AIRFLOW_ADMIN_PASSWORD"]}, fh)
PY

exec airflow api-server "$@"
