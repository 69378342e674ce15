"""``nequip-mts``: one entry point for the project's commands.

Subcommands are registered by the modules that implement them, so this file
stays a table of contents: ``deploy``, ``md``, ``build-lammps-plugin``,
``write-lammps-input``, ``demo``.
"""

import argparse
import importlib

# (module, how it registers itself); modules expose `add_parser(subparsers)`
_SUBCOMMAND_MODULES = (
    "nequip_mts.deploy.cli",
    "nequip_mts.cli.md",
    "nequip_mts.lammps.cli",
    "nequip_mts.cli.demo",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nequip-mts",
        description="Multiple-time-step MD with co-trained fast/slow NequIP and Allegro potentials.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in _SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name != name:
                raise
            continue
        module.add_parser(subparsers)
    return parser


def main(argv=None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
