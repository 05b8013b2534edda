"""Shell completion. One Python function knows the command line; the bash and zsh scripts (and
kubectl's own plugin completion, which runs `kubectl_complete-flows ARGS… WORD`) only ask it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

COMMANDS = ("start", "stop", "status", "version", "completion")
FLOW_TYPES = ("netflow", "ipfix", "sflow")
SHELLS = ("bash", "zsh")
OUTPUTS = ("table", "wide", "json", "yaml")

# Flags taking a value, per command ("" = accepted everywhere); value candidates where fixed.
CONNECTION_FLAGS = (
    "--gateway",
    "--token",
    "--kubeconfig",
    "--context",
    "-n",
    "--namespace",
    "--service",
    "--certificate-authority",
    "--request-timeout",
)
COMMAND_FLAGS: Mapping[str, tuple[str, ...]] = {
    "start": ("--node-port", "--selector", "--target", "--sampling", "--active-timeout", "--cache-max-flows"),
    "status": ("-o", "--output", "--node"),
}
SWITCHES: Mapping[str, tuple[str, ...]] = {
    "": ("--insecure-skip-tls-verify", "--help"),
    "status": ("--watch", "-w"),
}
FLAG_VALUES: Mapping[str, tuple[str, ...]] = {"-o": OUTPUTS, "--output": OUTPUTS}

# cobra.ShellCompDirectiveNoFileComp: kubectl's plugin completion reads it from the last line.
NO_FILE_COMPLETION = ":4"


def complete(words: Sequence[str]) -> list[str]:
    """Candidates for the last word of `words` (the arguments after the program name)."""
    *before, current = list(words) or [""]
    command = next((w for w in before if w in COMMANDS), "")
    positionals = [w for i, w in enumerate(before) if not w.startswith("-") and not _is_value(before, i)]
    if before and before[-1] in FLAG_VALUES:
        return [v for v in FLAG_VALUES[before[-1]] if v.startswith(current)]
    if before and _takes_value(before[-1]):
        return []
    if current.startswith("-"):
        flags = [*CONNECTION_FLAGS, *SWITCHES[""], *COMMAND_FLAGS.get(command, ()), *SWITCHES.get(command, ())]
        return [f for f in flags if f.startswith(current)]
    if not command:
        return [c for c in COMMANDS if c.startswith(current)]
    after = positionals[positionals.index(command) + 1 :]
    if command == "start" and not after:
        return [t for t in FLOW_TYPES if t.startswith(current)]
    if command == "completion" and not after:
        return [s for s in SHELLS if s.startswith(current)]
    return []


def _takes_value(word: str) -> bool:
    return "=" not in word and (word in CONNECTION_FLAGS or any(word in f for f in COMMAND_FLAGS.values()))


def _is_value(words: Sequence[str], index: int) -> bool:
    return index > 0 and _takes_value(words[index - 1])


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
