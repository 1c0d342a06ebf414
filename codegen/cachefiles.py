"""Files in the disk cache's directory (`cachedir`) read and created so that nobody else's
file is ever read as ours: the file-level half of the cache's security boundary.

Invariants:
- A file is read only through `open(O_NOFOLLOW | O_NONBLOCK)` and an `fstat` showing a
  regular file owned by the effective user, writable by nobody else and at most the
  caller's size bound; then at most that many bytes are read. A symbolic link (to
  `/dev/zero` or anything else), a FIFO, a device, a huge or a foreign file is refused
  without blocking and without reading it.
- A file is created only new (`O_EXCL`, never through a link), mode 0600 whatever the
  umask.
- Every name is opened relative to a directory descriptor the caller verified
  (`cachedir`): nothing here follows a path from the root.
"""
from __future__ import annotations

import logging
import os
import stat

log = logging.getLogger("tracejit")

NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
CLOEXEC = getattr(os, "O_CLOEXEC", 0)
NONBLOCK = getattr(os, "O_NONBLOCK", 0)


def read_private(dir_fd: int, name: str, max_bytes: int, where: str
                 ) -> tuple[bytes, float] | None:
    """The content and modification time of file `name` in `dir_fd` if it is a regular
    file of ours that nobody else can write, of at most `max_bytes` bytes; else None
    (with the reason at DEBUG)."""
    try:
        fd = os.open(name, os.O_RDONLY | NOFOLLOW | NONBLOCK | CLOEXEC, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except OSError as e:
        log.debug("disk cache: refusing %s/%s: %s", where, name, e)
        return None
    try:
        st = os.fstat(fd)
        problem = file_problem(st, max_bytes)
        if problem:
            log.debug("disk cache: refusing %s/%s: %s", where, name, problem)
            return None
        data = read_exact(fd, st.st_size)
        return None if data is None else (data, st.st_mtime)
    finally:
        os.close(fd)


def file_problem(st: os.stat_result, max_bytes: int) -> str | None:
    """Why a file of status `st` is not read (not a regular file of ours that nobody else
    can write, of at most `max_bytes` bytes), or None."""
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if st.st_uid != os.geteuid():
        return f"owned by {user_name(st.st_uid)}"
    if st.st_mode & 0o022:
        return f"writable by others (mode {stat.S_IMODE(st.st_mode):o})"
    if st.st_size > max_bytes:
        return f"{st.st_size} bytes, more than {max_bytes}"
    return None


def read_exact(fd: int, size: int) -> bytes | None:
    """Exactly `size` bytes of `fd`, or None if the file is shorter or longer now. (A
    read of a regular file returns fewer bytes than asked for only at its end: one read
    of `size + 1` bytes usually answers, without a second read to find the end.)"""
    chunks, got = [], 0
    while got <= size:
        want = size + 1 - got
        b = os.read(fd, want)
        if not b:
            break
        chunks.append(b)
        got += len(b)
        if len(b) < want:
            break
    return b"".join(chunks) if got == size else None


def create_file(name: str, dir_fd: int) -> int:
    """A descriptor of new file `name` in `dir_fd`, 0600, open for writing; raises
    `FileExistsError` if anything (a link included) has that name."""
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW | CLOEXEC, 0o600,
                 dir_fd=dir_fd)
    try:
        os.fchmod(fd, 0o600)       # whatever the umask
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_all(fd: int, data: bytes) -> None:
    """Write all of `data` to `fd` (a write may take only part of it)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def user_name(uid: int) -> str:
    """How messages name user `uid`: its login name and uid where known."""
    try:
        import pwd
        return f"user {pwd.getpwuid(uid).pw_name!r} (uid {uid})"
    except (ImportError, KeyError):
        return f"uid {uid}"
