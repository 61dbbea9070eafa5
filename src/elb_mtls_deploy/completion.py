"""Shell completion scripts for bash and zsh, generated from the argparse tree.

Pure: walks the parser and returns text. The scripts complete command names, each
command's options, the choices of an option that has them, and file names for
positional arguments and path options. zsh runs the bash function through its
`bashcompinit` layer, as argcomplete does, so both shells complete the same words.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Iterator

_PATH_HINTS = ("spec", "out", "junit", "gitlab-report", "state-dir", "pinned_spec")


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> list[str]:
    return sorted(
        flag
        for action in parser._actions
        for flag in action.option_strings
        if flag.startswith("--") and action.help != argparse.SUPPRESS
    )


def _choices(parser: argparse.ArgumentParser) -> Iterator[tuple[str, list[str]]]:
    for action in parser._actions:
        if (
            action.choices
            and action.option_strings
            and not isinstance(action, argparse._SubParsersAction)
        ):
            for flag in action.option_strings:
                yield flag, [str(c) for c in action.choices]


def _takes_path(parser: argparse.ArgumentParser) -> list[str]:
    return [
        flag
        for action in parser._actions
        if action.dest in _PATH_HINTS or action.dest.replace("_", "-") in _PATH_HINTS
        for flag in action.option_strings
    ]


def _entries(parser: argparse.ArgumentParser, path: str = "") -> Iterator[tuple[str, str]]:
    """(`command path`, case body) for the parser and every subcommand below it."""
    children = _subparsers(parser)
    positionals = [
        a
        for a in parser._actions
        if not a.option_strings and not isinstance(a, argparse._SubParsersAction)
    ]
    chosen = [str(c) for a in positionals if a.choices for c in a.choices]
    words = " ".join([*children, *chosen, *_options(parser)])
    lines = []
    for flag, choices in _choices(parser):
        lines.append(
            f'if [ "$prev" = {flag} ]; then COMPREPLY=($(compgen -W '
            f'{shlex.quote(" ".join(choices))} -- "$cur")); return; fi'
        )
    for flag in _takes_path(parser):
        lines.append(
            f'if [ "$prev" = {flag} ]; then COMPREPLY=($(compgen -f -- "$cur")); return; fi'
        )
    paths = any(not a.choices for a in positionals) and not children
    files = '; COMPREPLY+=($(compgen -f -- "$cur"))' if paths else ""
    lines.append(f'COMPREPLY=($(compgen -W {shlex.quote(words)} -- "$cur")){files}')
    yield path, "; ".join(lines)
    for name, child in children.items():
        yield from _entries(child, f"{path} {name}".strip())


def _label(path: str) -> str:
    return shlex.quote(path) if path else '""'


def bash(parser: argparse.ArgumentParser) -> str:
    prog = parser.prog
    cases = "\n".join(f"        {_label(path)}) {body} ;;" for path, body in _entries(parser))
    known = "|".join(sorted(path for path, _ in _entries(parser) if path))
    return f"""# {prog} completion for bash: eval "$({prog} completion bash)" (or save it to
# /etc/bash_completion.d/{prog}).
_{prog}_complete() {{
    local cur prev path="" word i
    cur="${{COMP_WORDS[COMP_CWORD]}}"
    prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    # The command path: the words before the cursor that name (sub)commands.
    for ((i = 1; i < COMP_CWORD; i++)); do
        word="${{COMP_WORDS[i]}}"
        case "|{known}|" in
            *"|${{path:+$path }}$word|"*) path="${{path:+$path }}$word" ;;
        esac
    done
    case "$path" in
{cases}
    esac
}}
complete -o filenames -F _{prog}_complete {prog}
"""


def zsh(parser: argparse.ArgumentParser) -> str:
    prog = parser.prog
    return (
        f"#compdef {prog}\n"
        f'# {prog} completion for zsh: eval "$({prog} completion zsh)" in ~/.zshrc.\n'
        "autoload -U +X compinit && compinit\n"
        "autoload -U +X bashcompinit && bashcompinit\n" + bash(parser).split("\n", 2)[2]
    )


def script(shell: str, parser: argparse.ArgumentParser) -> str:
    return {"bash": bash, "zsh": zsh}[shell](parser)
