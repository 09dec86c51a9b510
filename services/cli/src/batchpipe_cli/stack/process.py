"""Detached processes recorded by pid file, so that ``down`` stops only what ``up`` started."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import psutil

from batchpipe_cli.stack.activity import ACTIVITY


class StackError(RuntimeError):
    """A stack operation that cannot go on; the message names the cause."""


def read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def alive_pid(pid_file: Path, marker: str) -> int | None:
    """The recorded pid if that process still runs and its command line contains ``marker``.

    The marker (usually the state folder's path) guards against a recycled pid.
    """
    pid = read_pid(pid_file)
    if pid is None:
        return None
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        cmdline = " ".join(proc.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    return pid if marker in cmdline else None


def spawn(
    argv: Sequence[str],
    *,
    log_file: Path,
    pid_file: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
) -> int:
    """Start ``argv`` in its own session, output appended to ``log_file``; record its pid."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
            user=user,
        )
    pid_file.write_text(f"{proc.pid}\n")
    return proc.pid


def stop_pid(pid: int, *, timeout: float = 30.0, sig: int = signal.SIGTERM) -> None:
    """Signal ``pid`` (and its process group's children), wait, then SIGKILL what is left."""
    try:
        proc = psutil.Process(pid)
        family = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for p in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.send_signal(sig)
    _gone, alive = psutil.wait_procs(family, timeout=timeout)
    for p in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    psutil.wait_procs(alive, timeout=5)


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def who_listens(port: int) -> str:
    """A short description of the process listening on ``port``, when it can be seen."""
    try:
        for conn in psutil.net_connections(kind="tcp"):
            listening = conn.status == psutil.CONN_LISTEN
            if conn.laddr and conn.laddr.port == port and listening and conn.pid:
                proc = psutil.Process(conn.pid)
                return f"pid {conn.pid} ({' '.join(proc.cmdline())[:80]})"
    except (psutil.Error, OSError):
        pass
    return "another process"


def ensure_port_free(port: int, component: str) -> None:
    if port_in_use(port):
        raise StackError(
            f"{component}: port {port} on 127.0.0.1 is taken by {who_listens(port)}; stop it or "
            f"choose another port (BATCHPIPE_STACK_*_PORT or BATCHPIPE_STACK_PORT_OFFSET)"
        )


def wait_until(check: object, *, timeout: float, what: str, log_file: Path | None = None) -> None:
    """Poll ``check()`` (a readiness probe, never a fixed sleep) until it returns True."""
    assert callable(check)
    deadline = time.monotonic() + timeout
    last_error: str = "not ready"
    delay = 0.1
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as exc:  # a probe may raise while the server starts
            last_error = f"{type(exc).__name__}: {exc}"
        ACTIVITY.note(f"waiting for {what}: {last_error}"[:160])
        time.sleep(delay)  # poll interval between real readiness probes
        delay = min(delay * 1.5, 1.0)
    hint = f"; see {log_file}" if log_file else ""
    raise StackError(f"{what} not ready after {timeout:.0f}s ({last_error}){hint}")


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def pid_is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
