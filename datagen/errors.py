"""The one exception type that means "the user gave us something wrong".

Every module raises :class:`InputError` for bad input (a missing file, a nonsense option, a
store built with another config). The CLI turns it into a one-line message and exit code 2;
anything else is a bug and keeps its traceback.
"""


class InputError(Exception):
    """Bad user input. The message is one line that names the file or option and what is wrong."""
