"""The one exception type users see: a message that names the bad value and what is valid."""


class MechUnlearnError(Exception):
    """A user-facing error. The CLI prints its message alone (no traceback) and exits 2."""
