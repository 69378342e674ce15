"""Errors that reach the user, and the exit code the command line gives each.

Standard library only, so that every layer (MD, LAMMPS tools, CLI) can raise them.

=====  ==============================================================
code   meaning
=====  ==============================================================
0      success
1      a build or internal failure (a bug report is welcome)
2      bad input: a wrong option, a missing or unreadable file
3      MD became unstable (the last good frame is kept)
130    interrupted (Ctrl-C)
=====  ==============================================================
"""

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
EXIT_UNSTABLE = 3
EXIT_INTERRUPTED = 130


class InputError(ValueError):
    """Bad input: the message names the problem and the fix."""


class BuildError(RuntimeError):
    """A build step failed (e.g. compiling the LAMMPS plugin); the message says why."""


class MDInstabilityError(RuntimeError):
    """MD became unstable: non-finite forces, or energy or temperature blew up.

    Attributes
    ----------
    step : int
        The MD step (outer steps since the start of the run) at which it was detected.
    reason : str
        What went wrong.
    last_good_file : str or None
        Where the last good frame was saved, if it was.
    """

    def __init__(self, step, reason, last_good_file=None):
        self.step = step
        self.reason = reason
        self.last_good_file = last_good_file
        msg = f"MD became unstable at step {step}: {reason}"
        if last_good_file is not None:
            msg += f"; last good frame saved to {last_good_file}"
        super().__init__(msg)


def exit_code(err: BaseException) -> int:
    """The exit code for an exception that stopped a command."""
    if isinstance(err, MDInstabilityError):
        return EXIT_UNSTABLE
    if isinstance(err, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(err, (ValueError, OSError)):
        return EXIT_BAD_INPUT
    return EXIT_FAILURE
