"""Resolving a file reference under the inbox folder, refusing anything that leaves it."""

from __future__ import annotations

from pathlib import Path, PurePosixPath


class InboxPathError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def resolve_in_inbox(inbox: Path, relative: str) -> Path:
    """The regular file ``relative`` names inside ``inbox``.

    Absolute paths are refused (400); a path that resolves outside the inbox, through ``..``
    or a symbolic link, is refused (403); a missing file is 404.
    """
    if not relative or PurePosixPath(relative).is_absolute() or Path(relative).is_absolute():
        raise InboxPathError(400, "give a path relative to the inbox folder, not an absolute one")
    root = inbox.resolve(strict=True)
    try:
        candidate = (root / relative).resolve()
        if not candidate.is_relative_to(root):
            raise InboxPathError(403, f"{relative!r} resolves outside the inbox folder")
        if not candidate.exists():
            raise InboxPathError(404, f"no file {relative!r} in the inbox folder")
        if not candidate.is_file():
            raise InboxPathError(400, f"{relative!r} is not a regular file")
    except (ValueError, OSError) as exc:  # a NUL byte, a name too long for the file system
        raise InboxPathError(400, f"{relative!r} is not a usable path: {exc}") from exc
    return candidate
