"""Reading SoccerNet label and prediction files into event arrays (soccernet_metric.md sections 2, 3, 8,
and the ``array_length`` option of section 10).

Parsing mirrors the official ``label2vector`` / ``predictions2vector`` field by field and in the same
order, so that a file is accepted or refused exactly when the official evaluator accepts or refuses it
(``strict=True`` refuses more); every refusal is a :class:`MetricFileError` naming the file and the field.
"""
from __future__ import annotations

import os
import zipfile
from collections.abc import Sequence
from typing import Any

import numpy as np

from spotkern._files import MAX_JSON_BYTES, FileProblem, load_json_file, parse_json, read_regular_file
from spotkern._typing import PathLike
from spotkern.metrics.dictionaries import event_dictionary, v1_ground_truth_class

#: the games to evaluate: a sequence of 'league/season/game' paths, or a file listing them
GameList = PathLike | list[str] | tuple[str, ...]
#: (halves, frames, classes, values or scores): the lists the parsers append one game's events to
EventLists = tuple[list, list, list, list]


class MetricFileError(ValueError):
    """A label or prediction file that cannot be evaluated; ``file`` and ``field`` say where."""

    def __init__(self, fn: str, file: str, field: str, problem: str):
        self.file = file
        self.field = field
        super().__init__(f"{fn}: {file}: {field}: {problem}")


class Source:
    """A folder or a zip file holding ``<game>/<file name>`` members (official roots, section 1)."""

    def __init__(self, fn: str, name: str, path: PathLike) -> None:
        self.fn = fn
        self.path = os.fspath(path)
        if os.path.isdir(self.path):
            self.zip = None
        elif os.path.isfile(self.path) and zipfile.is_zipfile(self.path):
            self.zip = zipfile.ZipFile(self.path)
            self.members = set(self.zip.namelist())
        elif os.path.exists(self.path):
            raise ValueError(f"{fn}: {name} must be a folder or a zip file, got {self.path!r}")
        else:
            raise ValueError(f"{fn}: {name} does not exist: {self.path!r}")

    def close(self) -> None:
        if self.zip is not None:
            self.zip.close()

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def has(self, game: str, file_name: str) -> bool:
        """Whether ``<game>/<file_name>`` exists in this root (a FIFO, a device, a dangling symlink or a
        symlink loop too: reading it then names the problem rather than calling it missing)."""
        if self.zip is None:
            return os.path.lexists(os.path.join(self.path, game, file_name))
        return f"{game}/{file_name}" in self.members

    def describe(self, member: str) -> str:
        if self.zip is None:
            return os.path.join(self.path, member)
        return f"{self.path}!{member}"

    def games(self, file_name: str) -> list:
        """Every game (relative folder, '/'-separated) holding ``file_name``, sorted."""
        if self.zip is not None:
            found = [m[: -len(file_name) - 1] for m in self.members
                     if m.endswith("/" + file_name)]
        else:
            # Symlinked league/season/game folders are followed (datasets are often assembled from
            # links); a folder reached twice (a link cycle or two links to one place) is walked once, under
            # its first path, real folders before links.
            found, seen = [], set()
            for root, dirs, files in os.walk(self.path, followlinks=True):
                real = os.path.realpath(root)
                if real in seen:
                    dirs[:] = []
                    continue
                seen.add(real)
                dirs.sort(key=lambda d: os.path.islink(os.path.join(root, d)))  # real folders first
                if file_name in files:
                    found.append(os.path.relpath(root, self.path).replace(os.sep, "/"))
        return sorted(found)

    def load_json(self, game: str, file_name: str) -> tuple[Any, str]:
        """(document, description) of ``<game>/<file_name>``. Only regular files are read (a FIFO or a
        link to a device would block or never end), zip members up to the same size cap."""
        member = f"{game}/{file_name}" if game not in ("", ".") else file_name
        where = self.describe(member)
        try:
            if self.zip is None:
                raw = read_regular_file(os.path.join(self.path, member))
            else:
                if member not in self.members:
                    raise FileProblem(where, "missing")
                size = self.zip.getinfo(member).file_size
                if size > MAX_JSON_BYTES:
                    raise FileProblem(where, f"too large ({size} bytes, the limit is {MAX_JSON_BYTES})")
                raw = self.zip.read(member)
            return parse_json(raw, where), where
        except FileProblem as e:
            raise MetricFileError(self.fn, where, "file", e.problem) from None
        except (OSError, zipfile.BadZipFile, RuntimeError) as e:  # a damaged zip member
            raise MetricFileError(self.fn, where, "file", f"unreadable ({e})") from None


def _name(field) -> str:
    """Fields are passed as (list key, index, name) and formatted only when an error is raised."""
    if isinstance(field, tuple):
        key, i, name = field
        return f"{key}[{i}].{name}"
    return field


def _to_int(fn, where, field, value):
    """``int(value)`` as the official code does (int strings, truncated floats), or an error."""
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        raise MetricFileError(fn, where, _name(field), f"not an integer: {value!r}") from None


def _frame_from_ms(fn, where, field, position, framerate, strict=False):
    """int(framerate * (int(position) / 1000)), truncated toward zero in float64 (section 3)."""
    try:
        ms = int(position)
        frame = int(framerate * (ms / 1000))
    except (TypeError, ValueError, OverflowError):
        ms = _to_int(fn, where, field, position)
        try:
            frame = int(framerate * (ms / 1000))
        except OverflowError:
            raise MetricFileError(fn, where, _name(field), f"out of range: {position!r}") from None
    if strict and ms < 0:
        raise MetricFileError(fn, where, _name(field), f"negative position {position!r}")
    return frame


def _refuse_negative(fn, where, field, frame):
    raise MetricFileError(fn, where, _name(field), f"negative position (frame {frame})")


def _refuse_before_start(fn, where, field, frame):
    raise MetricFileError(fn, where, _name(field), f"position before the start of the half (frame {frame})")


def _cell_row(fn, where, field, frame, vector_size, strict):
    """Clamp to the last row; negative rows wrap like a NumPy index (section 3), or refuse."""
    if frame < 0:
        if strict:
            _refuse_negative(fn, where, field, frame)
        if frame + vector_size < 0:
            _refuse_before_start(fn, where, field, frame)
        return frame + vector_size
    return min(frame, vector_size - 1)


# Exact mode keeps frames unclamped: they must fit int64, and the core adds two frames (midpoints, section 4).
EXACT_FRAME_LIMIT = 2**62


def _exact_row_recorder(negatives: list, out):
    """The row function of ``array_length="exact"`` (section 10): frames are kept as they are (never
    clamped); a negative frame is appended as it is and recorded as ``(out, index, where, field)`` in
    ``negatives``, to be wrapped by :func:`wrap_exact_rows` once the length of its half is known."""
    frames = out[1]

    def row(fn, where, field, frame, vector_size, strict):
        if frame < 0:
            if strict:
                _refuse_negative(fn, where, field, frame)
            negatives.append((out, len(frames), where, field))  # the index the caller appends it at
        elif frame >= EXACT_FRAME_LIMIT:
            raise MetricFileError(fn, where, _name(field), f"position out of range (frame {frame})")
        return frame

    return row


def exact_half_lengths(outs: Sequence[EventLists], starts: Sequence[int], half_offset: int, min_length: int) -> list:
    """``array_length="exact"``: the array length of both halves of one game (section 10), i.e.
    max(min_length, 1 + the largest non-negative frame of that half among the events appended to the
    (halves, frames, ...) lists ``outs`` from the positions ``starts`` on). Returns [half 1, half 2]."""
    length = [min_length, min_length]
    for out, start in zip(outs, starts):
        halves, frames = out[0], out[1]
        for i in range(start, len(frames)):
            if frames[i] >= length[halves[i] - half_offset]:
                length[halves[i] - half_offset] = frames[i] + 1
    return length


def wrap_exact_rows(fn: str, negatives: list, lengths: list, half_offset: int) -> None:
    """Wrap the negative frames recorded by the exact-mode row function to the end of their half's exact
    array (``lengths`` from :func:`exact_half_lengths`), as NumPy indexing wraps them in the official
    120-minute array (section 3); a frame still negative is refused as in the official mode. Empties
    ``negatives``."""
    for out, index, where, field in negatives:
        frame = out[1][index]
        row = frame + lengths[out[0][index] - half_offset]
        if row < 0:
            _refuse_before_start(fn, where, field, frame)
        out[1][index] = row
    negatives.clear()


def _list_field(fn, where, data, key):
    if not isinstance(data, dict):
        raise MetricFileError(fn, where, key, f"the file must hold a JSON object, got {type(data).__name__}")
    if key not in data:
        raise MetricFileError(fn, where, key, "missing field")
    items = data[key]
    if not isinstance(items, list):
        raise MetricFileError(fn, where, key, f"must be a list, got {type(items).__name__}")
    return items


def _item(fn, where, key, i, item, field):
    if not isinstance(item, dict):
        raise MetricFileError(fn, where, f"{key}[{i}]", f"must be an object, got {type(item).__name__}")
    try:
        return item[field]
    except KeyError:
        raise MetricFileError(fn, where, f"{key}[{i}].{field}", "missing field") from None


def parse_labels(fn: str, data: Any, where: str, *, half_offset: int, version: int, framerate: int, placement: str,
                 strict: bool, out: EventLists, negatives: list | None = None) -> None:
    """Append the ground truth of one game to ``out`` = (halves, frames, classes, values) lists.

    Mirrors ``label2vector``: half = first character of gameTime; minutes/seconds read from its last five
    characters (even when ``position`` is used, so a bad gameTime is refused either way); frame from
    ``position`` ms when present and ``placement == "position"``, else from gameTime seconds.

    ``negatives``: None for the official 120-minute array (frames clamped, negative ones wrapped here);
    a list for ``array_length="exact"`` (frames kept, negative ones recorded there for
    :func:`wrap_exact_rows`).
    """
    dictionary = event_dictionary(version)
    vector_size = 120 * 60 * framerate
    cell_row = _cell_row if negatives is None else _exact_row_recorder(negatives, out)
    halves, frames, classes, values = out
    for i, ann in enumerate(_list_field(fn, where, data, "annotations")):
        try:
            time = ann["gameTime"]
            event = ann["label"]
        except (KeyError, TypeError):  # slow path only to name the problem
            time = _item(fn, where, "annotations", i, ann, "gameTime")
            event = _item(fn, where, "annotations", i, ann, "label")
        try:
            half = int(time[0])
            minutes = int(time[-5:-3])
            seconds = int(time[-2:])
        except (TypeError, ValueError, IndexError, KeyError):
            raise MetricFileError(fn, where, f"annotations[{i}].gameTime",
                                  f"expected '<half> - MM:SS', got {time!r}") from None
        if placement == "position" and "position" in ann:
            frame = _frame_from_ms(fn, where, ("annotations", i, "position"), ann["position"], framerate, strict)
        else:
            frame = framerate * (seconds + 60 * minutes)
        if version == 2:
            try:
                label = dictionary.get(event)
            except TypeError:
                label = None
            if label is None:
                if strict or not isinstance(event, str):
                    raise MetricFileError(fn, where, f"annotations[{i}].label",
                                          f"unknown label {event!r} for SoccerNet-v{version}")
                continue
        else:
            if not isinstance(event, str):
                raise MetricFileError(fn, where, f"annotations[{i}].label", f"must be a string, got {event!r}")
            label = v1_ground_truth_class(event)
            if label is None:
                if strict:
                    raise MetricFileError(fn, where, f"annotations[{i}].label",
                                          f"unknown label {event!r} for SoccerNet-v1")
                continue
        value = -1.0 if ann.get("visibility") == "not shown" else 1.0
        if half not in (1, 2):
            if strict:
                raise MetricFileError(fn, where, f"annotations[{i}].gameTime", f"half must be 1 or 2, got {time!r}")
            continue
        field = ("annotations", i, "position" if placement == "position" and "position" in ann else "gameTime")
        halves.append(half_offset + half - 1)
        frames.append(cell_row(fn, where, field, frame, vector_size, strict))
        classes.append(label)
        values.append(value)


def parse_predictions(fn: str, data: Any, where: str, *, half_offset: int, version: int, framerate: int, strict: bool,
                      out: EventLists, negatives: list | None = None) -> None:
    """Append the predictions of one game to ``out`` = (halves, frames, classes, scores) lists.

    Mirrors ``predictions2vector``: position (ms), label and half are read first, the confidence only
    for halves 1 and 2; v2 skips unknown labels, v1 refuses them (the official code raises KeyError).
    ``negatives``: as in :func:`parse_labels`.
    """
    dictionary = event_dictionary(version)
    vector_size = 120 * 60 * framerate
    cell_row = _cell_row if negatives is None else _exact_row_recorder(negatives, out)
    halves, frames, classes, scores = out
    for i, pred in enumerate(_list_field(fn, where, data, "predictions")):
        try:
            position = pred["position"]
            event = pred["label"]
            half = pred["half"]
        except (KeyError, TypeError):  # slow path only to name the problem
            position = _item(fn, where, "predictions", i, pred, "position")
            event = _item(fn, where, "predictions", i, pred, "label")
            half = _item(fn, where, "predictions", i, pred, "half")
        frame = _frame_from_ms(fn, where, ("predictions", i, "position"), position, framerate, strict)
        half = _to_int(fn, where, ("predictions", i, "half"), half)
        try:
            label = dictionary.get(event)
        except TypeError:
            label = None
        if label is None:
            if version == 1 or strict or not isinstance(event, str):
                raise MetricFileError(fn, where, f"predictions[{i}].label",
                                      f"unknown label {event!r} for SoccerNet-v{version}")
            continue
        confidence = pred["confidence"] if "confidence" in pred else \
            _item(fn, where, "predictions", i, pred, "confidence")
        if half not in (1, 2):
            if strict:
                raise MetricFileError(fn, where, f"predictions[{i}].half", f"must be 1 or 2, got {half!r}")
            continue
        try:
            score = float(confidence)
        except (TypeError, ValueError, OverflowError):
            raise MetricFileError(fn, where, f"predictions[{i}].confidence", f"not a number: {confidence!r}") \
                from None
        if strict and not np.isfinite(score):
            raise MetricFileError(fn, where, f"predictions[{i}].confidence", f"not finite: {confidence!r}")
        halves.append(half_offset + half - 1)
        frames.append(cell_row(fn, where, ("predictions", i, "position"), frame, vector_size, strict))
        classes.append(label)
        scores.append(score)


def read_game_list(fn: str, games: GameList) -> list:
    """``games``: a sequence of 'league/season/game' paths, or a file: .json (a list, or the SoccerNet
    nested {league: {season: [game, ...]}} mapping) or text (one game per line). Anything else, in
    the file or as the argument, is an error naming it."""
    if isinstance(games, (str, os.PathLike)):
        path = os.fspath(games)
        try:
            if not path.endswith(".json"):
                text = read_regular_file(path).decode("utf-8")
                return [line.strip() for line in text.splitlines() if line.strip()]
            data = load_json_file(path)
        except FileProblem as e:
            raise MetricFileError(fn, path, "file", e.problem) from None
        except UnicodeDecodeError as e:
            raise MetricFileError(fn, path, "file", f"not UTF-8 text ({e})") from None
        if isinstance(data, dict):
            out: list[str] = []
            for league, seasons in data.items():
                if not isinstance(seasons, dict):
                    raise MetricFileError(fn, path, str(league), "must map seasons to lists of games, got "
                                          f"{type(seasons).__name__}")
                for season, names in seasons.items():
                    if not isinstance(names, list) or not all(isinstance(g, str) for g in names):
                        raise MetricFileError(fn, path, f"{league}.{season}", "must be a list of game names")
                    out.extend(f"{league}/{season}/{g}" for g in names)
            return out
        if not isinstance(data, list) or not all(isinstance(g, str) for g in data):
            raise MetricFileError(fn, path, "file", "must hold a list of 'league/season/game' strings or a "
                                  "SoccerNet {league: {season: [game, ...]}} mapping")
        games = data
    if not isinstance(games, (list, tuple)) or not all(isinstance(g, str) for g in games):
        raise TypeError(f"{fn}: games must be a sequence of 'league/season/game' strings or a file path")
    return [g.strip("/") for g in games]


def official_split_games(split: str) -> list[str] | None:
    """The game list the official evaluator uses for ``split`` (``dataset="SoccerNet"``, section 1):
    the split file bundled with the ``SoccerNet`` package, in its order; None when the package is not
    installed or does not know ``split``."""
    try:
        from SoccerNet.utils import getListGames  # optional dependency: soccernet
    except ImportError:
        return None
    try:
        games = getListGames(split, task="spotting")  # the same lists for versions 1 and 2
    except Exception:  # unknown split names raise inside the package (various types)
        return None
    return list(games) or None
