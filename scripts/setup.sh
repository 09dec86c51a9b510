#!/usr/bin/env bash
# Installs what batchpipe needs on a fresh machine, and nothing twice:
#   system: PostgreSQL server binaries, Java 17+, Maven (Debian packages, when root): only for
#           the local stack (`all`, `system`); no other target looks for them;
#   images: Debian's docker.io (dockerd, and a Docker CLI with BuildKit built in) and
#           debootstrap, for `make test-images` (`all`, `images`; tests/images/);
#   Python: uv, the services' workspace (.venv), dbt's venv (.venvs/dbt), Airflow's (.venvs/airflow);
#   SeaweedFS: the local stack's S3 server, built from its Go module once per machine
#           (~5 min, cached in ~/.cache/batchpipe) and linked as .venvs/seaweedfs/weed (`all`, `seaweedfs`);
#   pre-commit: the hooks' environments (from PyPI, into pre-commit's cache).
# The Docker path (`make up`, `make compose-demo`) needs none of this: only Docker.
# Usage: scripts/setup.sh [all|system|images|services|hooks|dbt|airflow|bench|seaweedfs]   (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[setup] error:\033[0m %s\n' "$*" >&2; exit 1; }

have_pg() {
  command -v initdb >/dev/null 2>&1 && return 0
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}
java_ok() {
  command -v java >/dev/null 2>&1 || return 1
  local v
  v=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
  [ -n "$v" ] && [ "$v" -ge 17 ]
}

apt_install() {
  local apt_missing=("$@")
  [ ${#apt_missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing Debian packages: ${apt_missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${apt_missing[@]}" >/dev/null
  else
    die "missing system packages: ${apt_missing[*]} (install them, e.g. sudo apt-get install ${apt_missing[*]})"
  fi
}

# the local stack's servers (`batchpipe stack up`): PostgreSQL, Java for Kafka, Maven for its jars
setup_system() {
  local missing=()
  have_pg || missing+=(postgresql postgresql-client)
  java_ok || missing+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null 2>&1 || missing+=(maven)
  apt_install "${missing[@]}"
}

# the image tests (tests/images/): a Docker daemon (started by the tests when none runs) and
# debootstrap for the stand-in Python base image
setup_images() {
  local missing=()
  [ -x /usr/sbin/dockerd ] || command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
  command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
  apt_install "${missing[@]}"
}

if ! command -v uv >/dev/null 2>&1; then
  say "installing uv from PyPI"
  "$PY" -m pip install --quiet "uv==0.13.8"
fi
UV="$(command -v uv || echo "$("$PY" -m site --user-base)/bin/uv")"

# stamp files: a venv is rebuilt only when its requirement files change
stamp_ok() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }

setup_services() {
  say "services workspace (.venv) from uv.lock"
  "$UV" sync --all-packages --frozen --quiet
}

setup_dbt() {
  [ -f dbt/requirements.txt ] || return 0
  local sum; sum=$(sha256sum dbt/requirements*.txt | sha256sum | cut -c1-16)
  stamp_ok .venvs/dbt/.batchpipe-stamp "$sum" && return 0
  say "dbt virtualenv (.venvs/dbt) from dbt/requirements*.txt"
  "$UV" venv --quiet --allow-existing --python "$PY" .venvs/dbt
  for f in dbt/requirements*.txt; do "$UV" pip install --quiet --python .venvs/dbt -r "$f"; done
  echo "$sum" > .venvs/dbt/.batchpipe-stamp
}

setup_airflow() {
  [ -f orchestration/requirements.lock ] || return 0
  local sum; sum=$(cat orchestration/requirements*.lock orchestration/pyproject.toml 2>/dev/null | sha256sum | cut -c1-16)
  stamp_ok .venvs/airflow/.batchpipe-stamp "$sum" && return 0
  say "Airflow virtualenv (.venvs/airflow) from orchestration/requirements.lock"
  "$UV" venv --quiet --allow-existing --python "$PY" .venvs/airflow
  "$UV" pip install --quiet --python .venvs/airflow -r orchestration/requirements.lock \
    -r orchestration/requirements-test.lock
  if [ -f orchestration/pyproject.toml ]; then
    "$UV" pip install --quiet --python .venvs/airflow --no-deps -e orchestration
  fi
  echo "$sum" > .venvs/airflow/.batchpipe-stamp
}

setup_bench() {
  [ -f bench/requirements.txt ] || return 0
  local sum; sum=$(sha256sum bench/requirements.txt | cut -c1-16)
  stamp_ok .venvs/bench/.batchpipe-stamp "$sum" && return 0
  say "benchmark virtualenv (.venvs/bench) from bench/requirements.txt"
  "$UV" venv --quiet --allow-existing --python "$PY" .venvs/bench
  "$UV" pip install --quiet --python .venvs/bench -r bench/requirements.txt
  echo "$sum" > .venvs/bench/.batchpipe-stamp
}

# SeaweedFS, pinned to one release, as the Go module proxy names its commit (the proxy serves
# no tagged version of the module); docker-compose.yml's seaweedfs image runs the same release.
# `go install` refuses the module (its go.mod has replace directives), so the module is
# downloaded and `go build ./weed` runs in a writable copy.
SEAWEEDFS_RELEASE=4.53
SEAWEEDFS_MODULE=github.com/seaweedfs/seaweedfs@v0.0.0-20261109003541-7506e5f91cd6
SEAWEEDFS_GO=go1.26.6  # the go directive of that module's go.mod
SEAWEEDFS_CACHE="${BATCHPIPE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/batchpipe}/seaweedfs-$SEAWEEDFS_RELEASE"

# "go1.26.6" -> 1026006, comparable with -ge; empty when the text is no Go version
version_number() {
  sed -n 's/^go\([0-9]*\)\.\([0-9]*\)\.\{0,1\}\([0-9]*\).*/\1 \2 \3/p' <<<"$1" |
    awk '{printf "%d%03d%03d\n", $1, $2, ($3 == "" ? 0 : $3)}'
}

find_go() {
  local candidate
  for candidate in "$(command -v go || true)" /usr/local/go/bin/go /usr/lib/go/bin/go; do
    [ -n "$candidate" ] && [ -x "$candidate" ] && { echo "$candidate"; return 0; }
  done
  return 1
}

setup_seaweedfs() {
  local weed="$SEAWEEDFS_CACHE/weed" stamp="$SEAWEEDFS_CACHE/.batchpipe-stamp"
  if ! stamp_ok "$stamp" "$SEAWEEDFS_MODULE" || [ ! -x "$weed" ]; then
    mkdir -p "$SEAWEEDFS_CACHE"
    # one build per machine, even when several checkouts run setup at once
    exec 9>"$SEAWEEDFS_CACHE/.lock"
    flock 9
    if ! stamp_ok "$stamp" "$SEAWEEDFS_MODULE" || [ ! -x "$weed" ]; then
      build_seaweedfs "$weed"
      echo "$SEAWEEDFS_MODULE" > "$stamp"
    fi
    exec 9>&-
  fi
  mkdir -p .venvs/seaweedfs
  ln -sfn "$weed" .venvs/seaweedfs/weed
}

go_ok() { [ "$(version_number "$("$1" env GOVERSION 2>/dev/null)")" -ge "$(version_number "$SEAWEEDFS_GO")" ]; }

build_seaweedfs() {
  local go work
  if ! go=$(find_go) && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    local debian
    debian=$(apt-cache policy golang-go 2>/dev/null | sed -n 's/^ *Candidate: \([0-9]*:\)\{0,1\}\([0-9.]*\).*/go\2/p')
    if [ -n "$(version_number "$debian")" ] && [ "$(version_number "$debian")" -ge "$(version_number "$SEAWEEDFS_GO")" ]; then
      say "installing Go (Debian package golang-go, $debian)"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends golang-go >/dev/null
    fi
  fi
  go=$(find_go) && go_ok "$go" || die "SeaweedFS $SEAWEEDFS_RELEASE (the local stack's S3 server) is built \
from source and needs $SEAWEEDFS_GO or newer; found ${go:-no go command}${go:+ ($("$go" env GOVERSION))}, \
and Debian's golang-go is older. Install Go (https://go.dev/doc/install) and run scripts/setup.sh again."
  say "SeaweedFS $SEAWEEDFS_RELEASE: downloading its Go module"
  work=$(mktemp -d "$SEAWEEDFS_CACHE/build.XXXXXX")
  local src
  src=$(cd "$work" && GOTOOLCHAIN=local "$go" mod download -json "$SEAWEEDFS_MODULE" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p') && [ -f "$src/go.mod" ] ||
    { rm -rf "$work"; die "could not download $SEAWEEDFS_MODULE from the Go module proxy"; }
  say "SeaweedFS $SEAWEEDFS_RELEASE: building weed with $("$go" env GOVERSION) (once per machine, ~5 min)"
  cp -r "$src/." "$work/src"
  chmod -R u+w "$work/src"
  (cd "$work/src" && GOTOOLCHAIN=local "$go" build -o "$work/weed" ./weed) ||
    { rm -rf "$work"; die "building SeaweedFS failed (log above)"; }
  mv -f "$work/weed" "$1"
  rm -rf "$work"
}

setup_hooks() {
  # pre-commit's hook environments (.pre-commit-config.yaml), from PyPI into pre-commit's cache
  # (~/.cache/pre-commit): `make lint` and the test suite's lint tests then run offline.
  [ -f .pre-commit-config.yaml ] && git rev-parse --git-dir >/dev/null 2>&1 || return 0
  say "pre-commit hook environments"
  .venv/bin/pre-commit install-hooks >/dev/null
}

case "$what" in
  all) setup_system; setup_images; setup_services; setup_hooks; setup_dbt; setup_airflow; setup_bench; setup_seaweedfs ;;
  system) setup_system ;;
  images) setup_images; setup_services ;;
  services) setup_services ;;
  hooks) setup_services; setup_hooks ;;
  dbt) setup_dbt ;;
  airflow) setup_airflow ;;
  bench) setup_services; setup_bench ;;
  seaweedfs) setup_seaweedfs ;;
  *) die "unknown target $what (all|system|images|services|hooks|dbt|airflow|bench|seaweedfs)" ;;
esac
say "ready"
