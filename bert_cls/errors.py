"""Exceptions that the CLI turns into a one-line message and a non-zero exit, and one-line warnings."""

import sys


class BertClsError(Exception):
    """A problem with the user's input or environment, with the fix in its message.

    The CLI prints ``error: <message>`` and exits with status 2, without a traceback.
    """


def warn(message: str) -> None:
    """One ``warning: ...`` line on stderr: something the user should know that does not stop the command."""
    print(f"warning: {message}", file=sys.stderr, flush=True)
