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
            print(f"error: {e}", file=sys.stderr)
            sys.exit(2)

    return wrapper
