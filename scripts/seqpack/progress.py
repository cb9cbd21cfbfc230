"""seqserve-pack's progress lines on stderr, each with the time since start."""
import contextlib
import sys
import time

PROG = "seqserve-pack"

_t0 = time.monotonic()


def progress(message):
    """One progress line on stderr, with the time since start."""
    print(f"{PROG}: [{time.monotonic() - _t0:6.1f}s] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def step(what):
    """Progress lines around a step: what it does, and how long it took."""
    progress(f"{what} ...")
    start = time.monotonic()
    yield
    progress(f"{what}: done in {time.monotonic() - start:.1f} s")
