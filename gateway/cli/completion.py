"""Shell completion, read off the argument parser itself: commands, flags (and which take a
value), fixed values (choices, or an action's `completions`). The bash and zsh scripts, and
kubectl's own plugin completion (`kubectl_complete-flows ARGS… WORD`), only ask it."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field

SHELLS = ("bash", "zsh")
# cobra.ShellCompDirectiveNoFileComp: kubectl's plugin completion reads it from the last line.
NO_FILE_COMPLETION = ":4"


def complete_with(action: argparse.Action, values: Sequence[str]) -> argparse.Action:
    """Offer `values` for this argument (when `choices` cannot say it, e.g. a typed positional)."""
    action.completions = tuple(values)  # type: ignore[attr-defined]
    return action


def _values(action: argparse.Action) -> tuple[str, ...]:
    explicit = getattr(action, "completions", None)
    if explicit is not None:
        return tuple(explicit)
    return tuple(str(c) for c in action.choices) if action.choices else ()


@dataclass
class _Level:
    """What one parser (the top level or a command) accepts."""

    switches: list[str] = field(default_factory=list)
    valued: dict[str, tuple[str, ...]] = field(default_factory=dict)  # flag -> fixed values (may be empty)
    positionals: list[tuple[str, ...]] = field(default_factory=list)
    commands: dict[str, argparse.ArgumentParser] = field(default_factory=dict)


def _level(parser: argparse.ArgumentParser) -> _Level:
    level = _Level()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            level.commands = {name: sub for name, sub in action.choices.items() if not name.startswith("_")}
        elif action.option_strings:
            if action.help == argparse.SUPPRESS and not action.option_strings[0].startswith("--"):
                continue
            if action.nargs == 0:
                level.switches += action.option_strings
            else:
                for flag in action.option_strings:
                    level.valued[flag] = _values(action)
        else:
            level.positionals.append(_values(action))
    return level


def complete(parser: argparse.ArgumentParser, words: Sequence[str]) -> list[str]:
    """Candidates for the last word of `words` (the arguments after the program name)."""
    *before, current = list(words) or [""]
    top = _level(parser)
    level, positionals = top, 0
    expecting: tuple[str, ...] | None = None  # the previous word was a flag taking a value
    for word in before:
        if expecting is not None:
            expecting = None
            continue
        valued = {**top.valued, **level.valued}
        if word in valued:
            expecting = valued[word]
        elif word.startswith("-"):
            continue
        elif level is top and word in top.commands:
            level = _level(top.commands[word])
        else:
            positionals += 1
    if expecting is not None:
        return [v for v in expecting if v.startswith(current)]
    if current.startswith("-"):
        flags = dict.fromkeys([*level.switches, *level.valued, *top.switches, *top.valued])
        return [f for f in flags if f.startswith(current)]
    if level is top:
        return [c for c in top.commands if c.startswith(current)]
    if positionals < len(level.positionals):
        return [v for v in level.positionals[positionals] if v.startswith(current)]
    return []


BASH = """\
# bash completion for {prog} (also answers for kubectl-flows and oc-flows)
# Load it with:  source <({prog} completion bash)
_flowgate_flows_complete() {{
    local IFS=$'\\n'
    COMPREPLY=($("$1" __complete "${{COMP_WORDS[@]:1:COMP_CWORD}}" 2>/dev/null | grep -v '^:'))
}}
complete -o default -F _flowgate_flows_complete kubectl-flows oc-flows
"""

ZSH = """\
#compdef kubectl-flows oc-flows
# zsh completion for {prog}
# Load it with:  source <({prog} completion zsh)
_flowgate_flows_complete() {{
    local -a candidates
    candidates=("${{(@f)$("${{words[1]}}" __complete "${{(@)words[2,$CURRENT]}}" 2>/dev/null | grep -v '^:')}}")
    compadd -a candidates
}}
compdef _flowgate_flows_complete kubectl-flows oc-flows
"""

PLUGIN_HINT = """\
# `kubectl flows <TAB>` (kubectl >= 1.26) and `oc flows <TAB>` need no script: kubectl and oc ask
# the executables kubectl_complete-flows / oc_complete-flows, installed beside kubectl-flows.
"""


def script(shell: str, prog: str) -> str:
    template = BASH if shell == "bash" else ZSH
    return template.format(prog=prog) + PLUGIN_HINT
