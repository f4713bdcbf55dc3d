"""Command-line conventions shared by ``spotkern`` and ``python -m spotkern.metrics.cli``.

* A usage error is one line naming the flag (and the choices), not the whole usage text: ``spotkern
  train`` has some 70 flags, and argparse's usage dump would bury the message under them.
* Every boolean flag is ``--name`` / ``--no-name``. ``train``'s flags also accept an explicit value
  (``--progress false``).
"""
from __future__ import annotations

import argparse
import json
from typing import Any


class Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line: ``<prog>: error: <message> (see <prog> --help)``.

    Abbreviated long flags are refused (``allow_abbrev=False``: ``--epoch 3`` is not ``--epochs 3``).
    Its subcommands' parsers are ``CommandParser``s."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def add_subparsers(self, **kwargs: Any) -> Any:
        kwargs.setdefault("parser_class", CommandParser)
        return super().add_subparsers(**kwargs)

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class CommandParser(Parser):
    """The parser of one subcommand (``spotkern train``): an unknown flag is its own error, named
    ``spotkern train: error: unrecognized arguments: ...`` (argparse passes a subcommand's unknown
    arguments up to the main parser, which names only ``spotkern``), and it takes ``-v``/``-q``
    after the subcommand too (as ``verbose_after`` / ``quiet_after``, added to the main parser's by
    ``spotkern.cli.main``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_argument("-v", "--verbose", action="count", dest="verbose_after", default=argparse.SUPPRESS,
                          help="more log output; errors with their traceback (also before the command)")
        self.add_argument("-q", "--quiet", action="store_true", dest="quiet_after", default=argparse.SUPPRESS,
                          help="warnings and errors only (also before the command)")

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras


def parse_bool(s: str) -> bool:
    if str(s).lower() in ("1", "true", "yes", "on"):
        return True
    if str(s).lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean (true/false), got {s!r}")


class BoolFlag(argparse.Action):
    """``--name`` sets True, ``--no-name`` False. ``value_optional=True``: ``--name VALUE`` also takes
    an explicit boolean (only for commands without positional arguments, which it could swallow)."""

    def __init__(self, option_strings, dest, value_optional: bool = False, default=None, help=None, **kw):
        name = option_strings[0]
        if not name.startswith("--") or name.startswith("--no-"):
            raise ValueError(f"BoolFlag: give the positive spelling --name, got {name!r}")
        super().__init__([name, "--no-" + name[2:]], dest, nargs="?" if value_optional else 0, default=default,
                         type=parse_bool if value_optional else None, metavar="BOOL" if value_optional else None,
                         help=help, **kw)

    def __call__(self, parser, namespace, values, option_string=None):
        negative = option_string.startswith("--no-")
        if negative and values not in (None, []):
            parser.error(f"argument {option_string}: takes no value")
        value = not negative if values in (None, []) else values
        setattr(namespace, self.dest, value)

    def format_usage(self):
        return " | ".join(self.option_strings)


def json_object(text: str) -> dict:
    """argparse type of a JSON-object flag (``--trunk-kwargs '{"levels": 4}'``)."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise argparse.ArgumentTypeError("invalid JSON (nested too deeply)") from None
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"invalid JSON ({e})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object such as '{{\"levels\": 4}}', got {text!r}")
    return value


def int_in(lo: int, hi: int):
    """argparse type: an integer in [lo, hi] (a typo such as 10**20 threads is a usage error naming the flag)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be in [{lo}, {hi}], got {text}")
        return value

    return parse


def positive_float(hi: float):
    """argparse type: a finite number in (0, hi]."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not 0 < value <= hi:  # also refuses nan
            raise argparse.ArgumentTypeError(f"must be a number in (0, {hi:g}], got {text}")
        return value

    return parse
