"""Files that other people (or other pods) may also touch: atomic writes and reads that never follow
a symlink.

One home for the pattern that caches, exports and pipeline artifacts all need on shared volumes
(Kubeflow PVCs, NFS, a multi-user `/tmp`):

- `atomic_write(path)` writes through a uniquely named temporary file beside `path`, created
  exclusively (`O_EXCL`) and never through a symlink (`O_NOFOLLOW`), then one `os.replace`: readers
  see the old file or the whole new one, two writers never share a temporary file (PIDs collide
  across pods; a uuid does not), and a planted link cannot redirect the write.
- `open_nofollow(path)` opens for reading and refuses a symlink (`OSError` ELOOP).
"""
import contextlib
import os
import pathlib
import uuid


def temporary_name(path):
    """A hidden, unique sibling of `path` for a write that ends in a rename."""
    path = pathlib.Path(path)
    return path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex}")


@contextlib.contextmanager
def atomic_write(path, mode="w", fsync=True):
    """`with atomic_write(path) as f: f.write(...)`: `path` appears whole when the block ends, or not
    at all when it raises. `mode` is "w" (text) or "wb" (bytes)."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write: mode must be 'w' or 'wb', got {mode!r}")
    path = pathlib.Path(path)
    tmp = temporary_name(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def open_nofollow(path, mode="rb"):
    """`open(path, mode)` for reading that refuses a symlink (`OSError` ELOOP)."""
    if mode not in ("r", "rb"):
        raise ValueError(f"open_nofollow: mode must be 'r' or 'rb', got {mode!r}")
    return os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC), mode)
