"""``nequip-mts``: the one command line of the project.

Every subcommand lives in a module of this package that defines ``add_parser(subparsers)``
and sets ``func`` to a function of the parsed arguments. Subcommands raise exceptions;
:func:`main` alone turns them into one line on stderr and an exit code
(:mod:`nequip_mts.errors`): 2 for bad input, 3 for an MD instability or a failed
validation, 130 for Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys
import warnings

from nequip_mts import __version__
from nequip_mts.cli import analyze, augment, demo, deploy, distill, lammps, md, validate
from nequip_mts.errors import EXIT_FAILURE, BuildError, MDWarning, exit_code

# in the order --help lists them
SUBCOMMAND_MODULES = (augment, md, validate, deploy, distill, lammps, analyze, demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nequip-mts",
        description="Multiple-time-step MD with co-trained fast/slow NequIP and Allegro potentials.",
    )
    parser.add_argument("--version", action="version", version=f"nequip-mts {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in SUBCOMMAND_MODULES:
        module.add_parser(subparsers)
    return parser


def main(argv=None) -> int:
    """Run one subcommand; returns (and, as a script, exits with) its exit code."""
    args = build_parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warnings(args.command, warnings.showwarning)
            args.func(args)
    except KeyboardInterrupt as err:
        # MDInterrupted says how far the run got and how to continue it
        detail = f": {err}" if str(err) else ""
        print(f"nequip-mts {args.command}: interrupted{detail}", file=sys.stderr)
        return exit_code(err)
    except Exception as err:  # noqa: BLE001 - the map below decides what the user sees
        code = exit_code(err)
        if code == EXIT_FAILURE and not isinstance(err, BuildError):
            raise  # not a user's mistake: keep the traceback for the bug report
        print(f"nequip-mts {args.command}: error: {err}", file=sys.stderr)
        return code
    return 0


def _one_line_warnings(command, default):
    """A ``warnings.showwarning`` that prints this package's warnings as one line on stderr."""

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, MDWarning):
            print(f"nequip-mts {command}: warning: {message}", file=sys.stderr, flush=True)
        else:
            default(message, category, filename, lineno, file, line)

    return show


def deploy_main(argv=None) -> int:
    """``nequip-mts-deploy ...``, the same as ``nequip-mts deploy ...``."""
    return main(["deploy", *(sys.argv[1:] if argv is None else argv)])


def _script(entry):
    def run():
        sys.exit(entry())

    return run


# console scripts (pyproject.toml) exit with the code main returns
console_main = _script(main)
console_deploy = _script(deploy_main)
