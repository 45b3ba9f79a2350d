"""UserError: a problem with the user's input, printed as one line (no traceback)."""


class UserError(Exception):
    """Bad input: missing file, unknown key, bad value. The CLI prints it and exits with status 2."""
