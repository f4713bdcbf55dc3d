"""Reading small input files (labels, results, splits, configs) without hanging or exhausting memory.

Only regular files are read: a FIFO or a symlink to ``/dev/zero`` in place of a JSON file would block a
plain ``open().read()`` forever or grow it without end. Files are size-capped, and JSON
nested too deeply for the parser is a named error, not a RecursionError.
"""
from __future__ import annotations

import json
import os
import stat

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
