"""The failures seqserve-pack reports, each with its exit code (seqpack/cli.py prints them as one
line). Every module of the package raises these; none imports torch."""


class PackError(Exception):
    """An expected failure: reported as one line, without a traceback."""
    exit_code = 1


class UsageError(PackError):
    """Bad arguments or an input directory the packer cannot use (exit 2)."""
    exit_code = 2


class ExportError(PackError):
    """Export, compilation or the check against eager failed (exit 1)."""
    exit_code = 1


class Interrupted(BaseException):
    """SIGTERM, raised like KeyboardInterrupt: a BaseException, so that no `except Exception` in a
    library swallows it on the way out."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum
