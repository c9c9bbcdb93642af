"""CI walks the README's path: `.ci/run` runs the quick start's commands, in the README's order, and
installs nothing the README does not ask a newcomer to install (no project script, no Python environment
of its own), so CI fails whenever the README's path does."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# What only a make target may do: CI calling these itself would walk a path the README does not show.
NOT_IN_CI = ("hack/", ".venv", "pip ", "pip3 ", "go build", "go install", "pytest")
MAKE = re.compile(r"make(\s+[\w.=-]+)*")


def without_comment(line: str) -> str:
    return re.sub(r"(^|\s)#.*$", "", line).strip()


def readme_commands(readme: str) -> list[str]:
    """The commands of the first shell block of the README's quick start, without their comments."""
    section = readme.split("\n## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block, "the README's quick start has no ```sh block"
    return [command for line in block.group(1).splitlines() if (command := without_comment(line))]


def script_lines(script: str) -> list[str]:
    """The lines a shell script executes: no comments, no blank lines."""
    return [line for raw in script.splitlines() if (line := without_comment(raw))]


def make_commands(script: str) -> list[str]:
    """Every simple command of the script that runs make, in order (`a && make b; c` splits at && and ;)."""
    return [
        part
        for line in script_lines(script)
        for raw in re.split(r"&&|\|\||;|\bthen\b|\bdo\b|\belse\b", line)
        if MAKE.fullmatch(part := raw.strip())
    ]


def test_the_readme_quick_start_is_two_make_commands() -> None:
    assert readme_commands((ROOT / "README.md").read_text(encoding="utf-8")) == ["make demo", "make test"]


def test_ci_runs_the_readme_commands_in_the_readme_order() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert make_commands(ci) == readme_commands((ROOT / "README.md").read_text(encoding="utf-8"))


def test_ci_installs_only_system_packages() -> None:
    lines = script_lines((ROOT / ".ci" / "run").read_text(encoding="utf-8"))
    offending = [line for line in lines if any(word in line for word in NOT_IN_CI)]
    assert offending == [], "left to the make targets the README's commands run"


def test_the_parsers_see_what_bash_runs() -> None:
    script = (
        "# make lint\n"
        "x=1  # then make nothing\n"
        "command -v make >/dev/null || exit 1\n"
        'step "make demo"\n'
        "if ((${#a[@]})); then make venv; fi\n"
        "cd a && make demo; make test   # the two\n"
    )
    assert make_commands(script) == ["make venv", "make demo", "make test"]
    readme = "# x\n\n## Quick start: two\n\n```sh\nmake a   # first\n\nmake b\n```\n\n```sh\nmake c\n```\n"
    assert readme_commands(readme) == ["make a", "make b"]
