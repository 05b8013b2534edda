"""One settings structure per process: a dataclass whose fields carry their documentation, from
which the command line is derived. What a field means is written once, beside it; `--help`, the
parser and the code reading the value cannot disagree."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from gateway.durations import format_duration, parse_duration

S = TypeVar("S")


class SettingsError(Exception):
    """A setting has a value the process cannot run with; the message names the flag."""


def setting(
    help: str,
    *,
    default: Any = dataclasses.MISSING,
    parse: Callable[[str], Any] | None = None,
    choices: Sequence[str] | None = None,
    metavar: str | None = None,
    repeat: bool = False,
    flag: str | None = None,
) -> Any:
    """A documented field. `repeat` makes a list filled by repeating the flag."""
    metadata = {"help": help, "parse": parse, "choices": choices, "metavar": metavar, "repeat": repeat, "flag": flag}
    if repeat:
        return dataclasses.field(default_factory=list, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def duration(text: str) -> float:
    """A duration flag value (`30s`, `2m`, `500ms`), as argparse wants its type errors."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def flag_name(field: dataclasses.Field[Any]) -> str:
    return str(field.metadata.get("flag") or "--" + field.name.replace("_", "-"))


def add_arguments(parser: argparse.ArgumentParser, settings: type[Any]) -> None:
    """One flag per field, its help text followed by the default."""
    for field in dataclasses.fields(settings):
        meta = field.metadata
        if "help" not in meta:
            continue
        kwargs: dict[str, Any] = {"dest": field.name, "help": meta["help"]}
        if meta["metavar"]:
            kwargs["metavar"] = meta["metavar"]
        if meta["choices"]:
            kwargs["choices"] = list(meta["choices"])
        if meta["repeat"]:
            kwargs["action"] = "append"
            kwargs["default"] = []
        elif field.default is dataclasses.MISSING:
            kwargs["required"] = True
        else:
            kwargs["default"] = field.default
            shown = format_duration(field.default) if meta["parse"] is duration else field.default
            if field.default not in (None, ""):
                kwargs["help"] += f" (default: {shown})"
        if meta["parse"]:
            kwargs["type"] = meta["parse"]
        parser.add_argument(flag_name(field), **kwargs)


def from_arguments(settings: type[S], args: argparse.Namespace) -> S:
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(settings) if hasattr(args, f.name)}  # type: ignore[arg-type]
    return settings(**values)


def describe(settings: Any) -> list[tuple[str, str]]:
    """(flag, help) for every field, for documentation."""
    return [(flag_name(f), f.metadata["help"]) for f in dataclasses.fields(settings) if "help" in f.metadata]
