class ExitRefused(Exception):
    """A workflow call was refused. The message says why, in the words the pages show."""
