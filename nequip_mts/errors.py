"""Errors that reach the user, and the exit code the command line gives each.

Standard library only, so that every layer (MD, LAMMPS tools, CLI) can raise them.

=====  ==============================================================
code   meaning
=====  ==============================================================
0      success
1      a build or internal failure (a bug report is welcome)
2      bad input: a wrong option, a missing or unreadable file
3      MD became unstable (the last good frame is kept), or a model failed validation
130    interrupted (Ctrl-C)
=====  ==============================================================
"""

import contextlib
import pickle
import zipfile

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
EXIT_UNSTABLE = 3
EXIT_INTERRUPTED = 130


class InputError(ValueError):
    """Bad input: the message names the problem and the fix."""


def first_line(err: BaseException, limit: int = 160) -> str:
    """The first line of an exception's message, at most ``limit`` characters, for a
    one-line report (a traceback's message can run over many lines)."""
    return (str(err).strip().splitlines() or [""])[0][:limit]


class BuildError(RuntimeError):
    """A build step failed (e.g. compiling the LAMMPS plugin); the message says why."""


class MDWarning(UserWarning):
    """Something the user should know about a run that still goes on (the command line
    prints it as one line: a long outer step, a recovered trajectory)."""


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


class ValidationFailed(RuntimeError):
    """A model failed ``nequip-mts validate``: a false minimum along a bond, or MD that
    broke bonds or drifted; the message names the worst finding and the report.

    Attributes
    ----------
    findings : list of str
        One line per failed check.
    report : str or None
        The markdown report that lists every check.
    """

    def __init__(self, findings, report=None):
        self.findings = list(findings)
        self.report = None if report is None else str(report)
        shown = "; ".join(self.findings[:3])
        more = f"; and {len(self.findings) - 3} more" if len(self.findings) > 3 else ""
        msg = f"validation failed: {shown}{more}"
        if self.report is not None:
            msg += f" (report: {self.report})"
        super().__init__(msg)


class MDInterrupted(KeyboardInterrupt):
    """MD stopped by Ctrl-C (or SIGINT) between or inside steps; the message says how to go on.

    Attributes
    ----------
    steps_done : int
        The MD step reached (outer steps since the start of the first run).
    last_frame_step : int or None
        The step of the last frame in the trajectory, where ``--restart`` continues.
    """

    def __init__(self, message, steps_done=None, last_frame_step=None):
        self.steps_done = steps_done
        self.last_frame_step = last_frame_step
        super().__init__(message)


# what loaders (torch, zipfile, nequip) raise on a file that is not what they expect
_UNREADABLE = (
    pickle.UnpicklingError,
    zipfile.BadZipFile,
    EOFError,
    UnicodeDecodeError,
    RuntimeError,
    KeyError,
    AttributeError,
    TypeError,
    IndexError,
    ValueError,
)


@contextlib.contextmanager
def reading_model(path, what="a model file", fix=""):
    """Turn the errors of loading a corrupt or foreign file into one :class:`InputError`.

    ``with reading_model(path, "a multiscale checkpoint or package"): load(path)``.
    :class:`InputError` and ``OSError`` (a missing file) pass through unchanged.
    """
    try:
        yield
    except (InputError, OSError):
        raise
    except _UNREADABLE as err:
        detail = first_line(err)
        msg = f"cannot read {path} as {what} ({type(err).__name__}: {detail})"
        raise InputError(msg + (f"; {fix}" if fix else "")) from None


def exit_code(err: BaseException) -> int:
    """The exit code for an exception that stopped a command."""
    if isinstance(err, (MDInstabilityError, ValidationFailed)):
        return EXIT_UNSTABLE
    if isinstance(err, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(err, (ValueError, OSError)):
        return EXIT_BAD_INPUT
    return EXIT_FAILURE
