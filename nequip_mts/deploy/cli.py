"""``nequip-mts deploy``: the same as ``nequip-mts-deploy``."""

from .split import NotMultiscaleError, add_arguments, run


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "deploy",
        help="split a trained multiscale model into compiled fast, slow and sum models",
        description="Split a trained nequip-mts multiscale model into separately compiled fast, slow and sum models.",
    )
    add_arguments(parser)

    def checked_run(args):
        try:
            run(args)
        except (NotMultiscaleError, FileNotFoundError, ValueError) as err:
            parser.exit(2, f"nequip-mts deploy: error: {err}\n")

    parser.set_defaults(func=checked_run)
