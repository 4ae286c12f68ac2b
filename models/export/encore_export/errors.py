"""Errors the CLI reports as one clear line instead of a traceback."""


class ExportError(Exception):
    """Something the user can fix: bad arguments, bad input files."""


class SnapshotError(ExportError):
    """The --from folder is not a usable Hugging Face Jukebox snapshot."""
