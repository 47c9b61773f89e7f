"""The one error type of the stack: a message a person can act on, shown without a traceback."""


class StackError(Exception):
    """A problem with the local stack, explained in one paragraph (printed as is by the CLI)."""
