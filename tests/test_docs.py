"""Every command the README and the docs show parses with today's command line.

The commands are read from the fenced code blocks of the markdown files; a
``nequip-mts`` (or ``nequip-mts-deploy``, ``python -m nequip_mts``) line must parse
with :func:`nequip_mts.cli.main.build_parser`, and a ``nequip-train`` line must name
a config that ships with the package. Running them is the job of the end-to-end
tests and of CI; this catches a renamed option or subcommand at once.
"""

import pathlib
import re
import shlex

import pytest

from nequip_mts import resources
from nequip_mts.cli.main import SUBCOMMAND_MODULES, build_parser

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = sorted(
    [
        ROOT / "README.md",
        *ROOT.glob("docs/*.md"),
        *ROOT.glob("examples/**/README.md"),
        ROOT / "benchmarks/README.md",
    ]
)
ENV_PREFIX = re.compile(r"^(\w+=\S*\s+)+")


def _commands(path):
    """(line number, command) for each shell command in the fenced blocks of ``path``."""
    in_block, pending, start = False, "", 0
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip().startswith("```"):
            in_block, pending = not in_block, ""
            continue
        if not in_block:
            continue
        text = line.split(" #")[0].rstrip() if not pending else line.rstrip()
        if not pending:
            start = number
        if text.endswith("\\"):
            pending += text[:-1] + " "
            continue
        command, pending = (pending + text).strip(), ""
        command = ENV_PREFIX.sub("", command)
        if command:
            yield start, command


def _cases():
    for path in DOCS:
        for number, command in _commands(path):
            words = command.split()
            if words[0] in ("nequip-mts", "nequip-mts-deploy", "nequip-train") or words[:3] == [
                "python",
                "-m",
                "nequip_mts",
            ]:
                yield pytest.param(command, id=f"{path.relative_to(ROOT)}:{number}")


CASES = list(_cases())


def test_the_docs_show_commands():
    assert len(CASES) >= 10


@pytest.mark.parametrize("command", CASES)
def test_documented_command_parses(command):
    words = shlex.split(command.replace("...", ""))
    if words[0] == "nequip-train":
        name = words[words.index("-cn") + 1]
        config_path = words[words.index("-cp") + 1]
        if config_path == resources.CONFIG_PATH:
            assert (resources.config_dir() / f"{name}.yaml").is_file(), f"no shipped config {name}"
        return
    if words[0] == "python":
        words = words[2:]
    args = ["deploy", *words[1:]] if words[0] == "nequip-mts-deploy" else words[1:]
    try:
        parsed = build_parser().parse_args(args)
    except SystemExit as stop:  # --help exits 0, a parse error 2
        assert stop.code == 0, f"does not parse: {command}"
        return
    assert callable(parsed.func)


def test_every_subcommand_is_listed_and_importable(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    out = capsys.readouterr().out
    names = (
        "augment",
        "md",
        "validate",
        "deploy",
        "distill",
        "build-lammps-plugin",
        "write-lammps-input",
        "analyze",
        "demo",
    )
    for name in names:
        assert name in out
    assert len(SUBCOMMAND_MODULES) == 8
