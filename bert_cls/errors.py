"""Exceptions that the CLI turns into a one-line message and a non-zero exit."""


class BertClsError(Exception):
    """A problem with the user's input or environment, with the fix in its message.

    The CLI prints ``error: <message>`` and exits with status 2, without a traceback.
    """
