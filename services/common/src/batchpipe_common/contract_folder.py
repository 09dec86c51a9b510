"""The contracts folder as the services see it while they run: re-read when a file changes.

A service builds one ``ContractFolder`` at start (strict: the folder must hold valid
contracts, as ``load_contracts`` demands) and asks it for a contract on every request or poll.
A look-up costs one ``stat`` per ``*.yaml`` file; a file whose inode, size or modification
time changed is parsed again, so a new or changed contract is seen without a restart. A file that
no longer parses keeps no contract (its dataset is unknown until it is fixed) and its error is
kept for the answer, never raised into unrelated datasets.
"""

from __future__ import annotations

import threading
from pathlib import Path

import structlog

from batchpipe_common.contracts import Contract, ContractError, load_contract, load_contracts

log = structlog.get_logger(__name__)
_Signature = tuple[int, int, int]


class ContractFolder:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._seen: dict[Path, tuple[_Signature, Contract | None, str | None]] = {}
        for name, contract in load_contracts(directory).items():
            path = directory / f"{name}.yaml"
            self._seen[path] = (_signature(path), contract, None)

    def current(self) -> dict[str, Contract]:
        """Every valid contract in the folder now, by dataset name."""
        with self._lock:
            self._refresh()
            return {c.name: c for _, c, _ in self._seen.values() if c is not None}

    def get(self, dataset: str) -> Contract | None:
        return self.current().get(dataset)

    def problem(self, dataset: str) -> str | None:
        """Why ``dataset``'s file holds no usable contract, when it is there but broken."""
        with self._lock:
            entry = self._seen.get(self.directory / f"{dataset}.yaml")
        return entry[2] if entry else None

    def unknown(self, dataset: str) -> str:
        """The message for a dataset without a usable contract."""
        problem = self.problem(dataset)
        if problem:
            return f"dataset {dataset!r} has a contract file that cannot be used: {problem}"
        return f"unknown dataset {dataset!r} (no {dataset}.yaml in {self.directory})"

    def _refresh(self) -> None:
        try:
            paths = set(self.directory.glob("*.yaml"))
        except OSError as exc:  # the folder went away: keep what was read
            log.warning("contracts folder unreadable", folder=str(self.directory), error=str(exc))
            return
        for gone in set(self._seen) - paths:
            log.info("contract removed", file=str(gone))
            del self._seen[gone]
        for path in paths:
            try:
                signature = _signature(path)
            except OSError:
                continue
            known = self._seen.get(path)
            if known is not None and known[0] == signature:
                continue
            try:
                loaded = load_contract(path)
            except ContractError as exc:
                log.error("contract refused", file=str(path), error=str(exc))
                self._seen[path] = (signature, None, str(exc))
                continue
            log.info("contract loaded", dataset=loaded.name, version=loaded.version, file=str(path))
            self._seen[path] = (signature, loaded, None)


def _signature(path: Path) -> _Signature:
    stat = path.stat()
    return stat.st_ino, stat.st_mtime_ns, stat.st_size
