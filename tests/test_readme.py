"""The README and docs/ show commands that work: every `kgan …` in their code blocks names a
command that exists, and every flag it names is one that command takes."""

from __future__ import annotations

import re
import shlex

import pytest
from helpers import ROOT, cli_commands

DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SEPARATORS = {"&&", "||", "|", ";", ">", ">>", "<", "(", ")", "&"}


def kgan_commands(text: str) -> list[list[str]]:
    """The words of each `kgan` command in the shell code blocks of a Markdown text."""
    commands = []
    for block in re.findall(r"```(?:bash|sh|shell)?\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
            lexer.whitespace_split, lexer.commenters = True, "#"
            words, current = list(lexer), None
            for word in words:
                if word == "kgan" and current is None:
                    current = []
                elif word in SEPARATORS or set(word) <= set("&|;<>()"):
                    if current is not None:
                        commands.append(current)
                    current = None
                elif current is not None:
                    current.append(word)
            if current is not None:
                commands.append(current)
    return commands


def problems(words: list[str], known: dict) -> list[str]:
    """What is wrong with one documented command: an unknown command, or unknown flags."""
    path: tuple[str, ...] = ()
    rest = list(words)
    while rest and (*path, rest[0]) in known:
        path = (*path, rest.pop(0))
    command = known[path]
    takes_commands = getattr(command, "commands", None) and not getattr(command, "invoke_without_command", False)
    if takes_commands and rest and not rest[0].startswith("-"):
        return [f"`kgan {' '.join(words)}`: no command {rest[0]!r} in `kgan {' '.join(path)}`"]
    options = {"--help"}
    for param in command.params:
        options.update(getattr(param, "opts", []), getattr(param, "secondary_opts", []))
    flags = [word.split("=")[0] for word in rest if word.startswith("--")]
    return [f"`kgan {' '.join(words)}`: `kgan {' '.join(path)}` has no {flag}" for flag in flags if flag not in options]


def test_the_parser_finds_commands_flags_and_chains():
    found = kgan_commands("```bash\nkgan fid --a 1 && kgan runs  # kgan x --y\nls | kgan b \\\n  --c=3 > out\n```\n")
    assert found == [["fid", "--a", "1"], ["runs"], ["b", "--c=3"]]
    known = cli_commands()
    assert problems(["fid", "--json"], known) == []
    assert problems(["fid", "--jsn"], known) == ["`kgan fid --jsn`: `kgan fid` has no --jsn"]
    assert problems(["data", "prepar", "x"], known) == ["`kgan data prepar x`: no command 'prepar' in `kgan data`"]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_every_documented_command_parses(document):
    commands = kgan_commands(document.read_text())
    if document.name == "README.md":
        assert len(commands) >= 20  # the parser sees the README's commands
    known = cli_commands()
    wrong = [problem for words in commands for problem in problems(words, known)]
    assert not wrong, "\n".join(wrong)


def test_the_readme_opens_with_the_two_commands_and_stays_short():
    lines = (ROOT / "README.md").read_text().splitlines()
    opening = "\n".join(lines[:6])
    assert "kgan train --preset quick" in opening and "python -m pytest -q" in opening
    assert len(lines) <= 265  # a five-minute read: details go to docs/
