"""Reading small input files (labels, results, splits, configs) without hanging or exhausting memory, and
writing files atomically.

Only regular files are read: a FIFO or a symlink to ``/dev/zero`` in place of a JSON file would block a
plain ``open().read()`` forever or grow it without end. Files are size-capped, and JSON
nested too deeply for the parser is a named error, not a RecursionError.

Writes (``write_json_atomic``, ``publish``) go through a temporary file in the destination's folder
(``.<name>.<random>.tmp``, unique per call, so threads of one process never share one) that replaces the
destination in one ``os.replace``: a reader sees the old file or the new one, never a torn one.
"""
from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile

#: the largest JSON file read (a SoccerNet label file is ~100 KB, a results file a few MB)
MAX_JSON_BYTES = 256 << 20


class FileProblem(ValueError):
    """A file that cannot be read as asked; ``path`` and ``problem`` say which and why."""

    def __init__(self, path: str, problem: str):
        self.path, self.problem = path, problem
        super().__init__(f"{path}: {problem}")


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def read_regular_file(path: str, limit: int = MAX_JSON_BYTES) -> bytes:
    """The bytes of the regular file ``path`` (symlinks followed), at most ``limit`` of them; anything
    else raises :class:`FileProblem`: missing, unreadable, a directory / FIFO / device, too large."""
    path = os.fspath(path)
    try:
        # O_NONBLOCK: opening a FIFO for reading returns at once instead of waiting for a writer
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise FileProblem(path, "missing") from None
    except OSError as e:
        raise FileProblem(path, f"unreadable ({e.strerror or e})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FileProblem(path, f"{_kind(st.st_mode)}, not a regular file")
        if st.st_size > limit:
            raise FileProblem(path, f"too large ({st.st_size} bytes, the limit is {limit})")
        chunks, n = [], 0
        while n <= limit:
            b = os.read(fd, min(1 << 20, limit + 1 - n))
            if not b:
                break
            chunks.append(b)
            n += len(b)
        if n > limit:  # the file grew while being read
            raise FileProblem(path, f"too large (over {limit} bytes)")
        return b"".join(chunks)
    except OSError as e:
        raise FileProblem(path, f"unreadable ({e.strerror or e})") from None
    finally:
        os.close(fd)


def parse_json(raw: bytes, path: str):
    """``json.loads`` with its failures as :class:`FileProblem` naming ``path`` (invalid JSON, bad
    encoding, nesting too deep for the parser)."""
    try:
        return json.loads(raw)
    except RecursionError:
        raise FileProblem(path, "invalid JSON (nested too deeply)") from None
    except (UnicodeDecodeError, ValueError) as e:
        raise FileProblem(path, f"invalid JSON ({e})") from None


def load_json_file(path: str, limit: int = MAX_JSON_BYTES):
    """The JSON document of the regular file ``path``; every failure is a :class:`FileProblem`."""
    return parse_json(read_regular_file(path, limit), os.fspath(path))


def load_json_object(path: str, prefix: str, what: str = "a JSON object") -> dict:
    """The JSON object in ``path``; any problem with the file (``load_json_file``) or a document that is not
    an object is a ValueError whose message starts with ``prefix`` and names the file."""
    try:
        doc = load_json_file(path)
    except FileProblem as e:
        raise ValueError(f"{prefix} {e}") from None
    if not isinstance(doc, dict):
        raise ValueError(f"{prefix} {path}: must hold {what}, got {type(doc).__name__}")
    return doc


def file_sha256(path: str) -> str:
    """SHA-256 hex digest of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _umask() -> int:
    try:  # Linux >= 4.7 states it; reading it there leaves the process's umask untouched
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def temporary_beside(path: str) -> tuple[int, str]:
    """``(fd, name)`` of a new temporary file in ``path``'s folder, for ``publish`` to move onto ``path``."""
    folder, base = os.path.split(os.fspath(path))
    return tempfile.mkstemp(dir=folder or ".", prefix=f".{base}.", suffix=".tmp")


def publish(tmp: str, path: str) -> None:
    """Give ``tmp`` (``mkstemp``'s 0600) the permissions of a file created normally, then move it onto
    ``path`` in one ``os.replace``."""
    os.chmod(tmp, 0o666 & ~_umask())
    os.replace(tmp, path)


def remove_if_present(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def write_json_atomic(path: str, doc, *, indent: int | None = None, durable: bool = False) -> str:
    """Write ``doc`` as JSON to ``path`` atomically (``write_text_atomic``); returns ``path``."""
    return write_text_atomic(path, json.dumps(doc, indent=indent), durable=durable)


def write_text_atomic(path: str, text: str, *, durable: bool = False) -> str:
    """Write ``text`` (UTF-8) to ``path`` atomically (module docstring); ``durable``: fsync before the
    replace, so the file survives a power cut once this returns. Returns ``path``. On any failure the
    temporary file is removed and ``path`` is as it was."""
    path = os.fspath(path)
    fd, tmp = temporary_beside(path)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        publish(tmp, path)
    except BaseException:
        remove_if_present(tmp)
        raise
    return path
