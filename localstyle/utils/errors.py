"""User-facing errors.

Code that detects bad input (a missing file, an unknown config key, an unreadable image) raises
:class:`LocalstyleError` with a one-line message that names the file and the problem. The command-line
entry points catch it and print just that line, without a traceback.
"""
import functools
import sys


class LocalstyleError(Exception):
    """An error caused by the user's input; its message is a complete, one-line explanation."""


def cli_errors(main):
    """Decorate a CLI ``main`` so a :class:`LocalstyleError` prints ``error: <message>`` and exits 2."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except LocalstyleError as e:
            print(f"error: {one_line(e)}", file=sys.stderr)
            sys.exit(2)

    return wrapper


def one_line(error):
    """The message of a :class:`LocalstyleError`; for one re-raised by a DataLoader worker (whose message is
    the worker's whole traceback), the original one-line message."""
    text = str(error)
    if "Original Traceback" in text:
        last = text.rstrip().splitlines()[-1]
        return last.split(f"{LocalstyleError.__name__}: ", 1)[-1]
    return text
