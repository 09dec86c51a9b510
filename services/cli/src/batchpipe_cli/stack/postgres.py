"""PostgreSQL: a private cluster (initdb + pg_ctl with the system's binaries) on loopback.

As root, the server runs as an unprivileged user (``postgres`` when it exists, else a
``batchpipe`` system user created for it).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
from pathlib import Path

import asyncpg

from batchpipe_cli.stack.component import Component
from batchpipe_cli.stack.process import (
    StackError,
    alive_pid,
    ensure_port_free,
    stop_pid,
    wait_until,
)
from batchpipe_common.provision import ProvisionError
from batchpipe_common.provision.database import RolePasswords, ensure_database

SUPERUSER = "postgres"


def find_pg_bindir() -> Path:
    """The directory holding initdb, pg_ctl and postgres (newest version wins)."""
    pg_config = shutil.which("pg_config")
    candidates = []
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(Path(out.stdout.strip()))
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    if shutil.which("initdb"):
        candidates.append(Path(shutil.which("initdb") or "").resolve().parent)
    for directory in candidates:
        if (directory / "initdb").exists() and (directory / "pg_ctl").exists():
            return directory
    raise StackError(
        "postgres: no PostgreSQL server binaries (initdb, pg_ctl) found; install them "
        "(Debian: apt-get install postgresql) or run `make setup` as root"
    )


def _server_user() -> str | None:
    """None when not root; otherwise an unprivileged user to run the server as."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "batchpipe"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "batchpipe"],
        check=True,
    )
    return "batchpipe"


def _check_reachable(path: Path, user: str) -> None:
    """The unprivileged server user must be able to traverse every parent of the state."""
    info = pwd.getpwnam(user)
    for parent in path.resolve().parents:
        st = parent.stat()
        if st.st_uid == info.pw_uid:
            continue
        if not st.st_mode & 0o001:
            raise StackError(
                f"postgres: the server runs as user {user!r}, which cannot enter {parent}; "
                f"put the state folder under a path others can traverse (BATCHPIPE_STACK_DIR) "
                f"or chmod o+x {parent}"
            )


class Postgres(Component):
    name = "postgres"
    recovery_grace_s = 120.0  # crash recovery replays the WAL since the last checkpoint

    @property
    def port(self) -> int:
        return self.config.ports["postgres"]

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def socket_dir(self) -> Path:
        return self.home / "run"

    @property
    def log_file(self) -> Path:
        return self.home / "postgres.log"

    def endpoint(self) -> str:
        return f"postgresql://127.0.0.1:{self.port}"

    def dsn(self, user: str, password: str, database: str = "warehouse") -> str:
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{database}"

    def pid(self) -> int | None:
        return alive_pid(self.data_dir / "postmaster.pid", str(self.data_dir))

    def _run(self, argv: list[str], user: str | None, **kw: object) -> None:
        result = subprocess.run(
            argv,
            user=user,
            capture_output=True,
            text=True,
            check=False,
            **kw,  # type: ignore[call-overload]
        )
        if result.returncode != 0:
            raise StackError(
                f"postgres: {Path(argv[0]).name} failed: {result.stderr.strip() or result.stdout}"
            )

    def start(self) -> None:
        bindir = find_pg_bindir()
        user = _server_user()
        ensure_port_free(self.port, self.name)
        self.home.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        self.log_file.touch()
        if user:
            _check_reachable(self.home, user)
            info = pwd.getpwnam(user)
            for path in (self.home, self.socket_dir, self.log_file):
                os.chown(path, info.pw_uid, info.pw_gid)
        first_start = not (self.data_dir / "PG_VERSION").exists()
        if first_start:
            pwfile = self.home / ".pwfile"
            pwfile.write_text(self.config.secrets.pg_superuser_password + "\n")
            if user:
                info = pwd.getpwnam(user)
                os.chown(pwfile, info.pw_uid, info.pw_gid)
            pwfile.chmod(0o600)
            try:
                self._run(
                    [
                        str(bindir / "initdb"),
                        "-D",
                        str(self.data_dir),
                        "-U",
                        SUPERUSER,
                        f"--pwfile={pwfile}",
                        "--auth-local=trust",
                        "--auth-host=scram-sha-256",
                        "--encoding=UTF8",
                        "--locale=C.UTF-8",
                    ],
                    user,
                )
            finally:
                pwfile.unlink(missing_ok=True)
            self._write_config()
        options = f"-p {self.port} -k {self.socket_dir}"
        self._run(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ],
            user,
        )
        wait_until(self.healthy, timeout=60, what="postgres", log_file=self.log_file)
        self._bootstrap()

    def _write_config(self) -> None:
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "max_connections": "200",
            "shared_buffers": "256MB",
            "max_wal_size": "4GB",
            "checkpoint_timeout": "15min",
            "log_min_duration_statement": "2000",
            "log_line_prefix": "'%m [%p] %u@%d '",
        }
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# batchpipe local stack\n")
            for key, value in settings.items():
                conf.write(f"{key} = {value}\n")

    def _bootstrap(self) -> None:
        """Roles, databases and schemas (idempotent; ``batchpipe_common.provision``)."""
        s = self.config.secrets
        passwords = RolePasswords(
            sink=s.pg_sink_password, dbt=s.pg_dbt_password, airflow=s.pg_airflow_password
        )
        admin_dsn = self.dsn(SUPERUSER, s.pg_superuser_password, "postgres")
        try:
            self.run_async(ensure_database(admin_dsn, passwords, timeout_s=30))
        except ProvisionError as exc:
            raise StackError(f"postgres: {exc}") from exc

    def healthy(self) -> bool:
        return self.run_async(self._query_ok())

    async def _query_ok(self) -> bool:
        try:
            conn = await asyncpg.connect(
                self.dsn(SUPERUSER, self.config.secrets.pg_superuser_password, "postgres"),
                timeout=3,
            )
        except (OSError, asyncpg.PostgresError, TimeoutError):
            return False
        try:
            return bool(await conn.fetchval("select 1") == 1)
        finally:
            await conn.close()

    def stop(self) -> None:
        """``pg_ctl stop -m fast``; when that does not end it in 30 s, ``-m immediate``; when
        even that does not, SIGKILL (the next start runs crash recovery)."""
        pid = self.pid()
        if pid is None:
            return
        pg_ctl = str(find_pg_bindir() / "pg_ctl")
        for mode, seconds in (("fast", "30"), ("immediate", "15")):
            try:
                self._run(
                    [pg_ctl, "-D", str(self.data_dir), "-m", mode, "-t", seconds, "-w", "stop"],
                    _server_user(),
                )
                return
            except StackError:
                if self.pid() is None:
                    return
        stop_pid(pid, timeout=15, sig=signal.SIGKILL)
