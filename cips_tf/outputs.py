"""What the entry points that write into `--out` share (through the library, DESIGN.md): no silent
overwrite, names that stay inside `--out`.

- `refuse_overwrite(out, names, program)`: raises `FileExistsError` (one line, exit code 2) when any
  of `names` already exists in `out`, unless the CLI's `--overwrite` was given; the wording is
  cips-dataset's ("choose an empty destination or overwrite them (<program> --overwrite)").
- `empty_task_dirs(out, tasks, program, overwrite)`: makes `out`; refuses (before any work) task
  directories `out/<task>` that hold files, unless `overwrite`: then empties them.
- `inside(out, name)`: `out / name` for a name derived from an input (a file stem, a target name),
  refusing one that would leave `out` (`..`, an absolute path, a separator).
"""
import os
import pathlib
import shutil


def refuse_overwrite(out, names, program, overwrite=False):
    """Raises FileExistsError when `overwrite` is False and one of `out/<name>` (or glob pattern) exists."""
    out = pathlib.Path(out)
    if overwrite or not out.is_dir():
        return
    found = []
    for name in names:
        if any(ch in name for ch in "*?["):
            found += sorted(p.name for p in out.glob(name))
        elif os.path.lexists(out / name):
            found.append(name)
    if found:
        raise FileExistsError(
            f"{out} already holds {len(found)} output file(s) ({found[0]} ...): "
            f"choose an empty destination or overwrite them ({program} --overwrite)"
        )


def inside(out, name):
    """`out / name` when `name` is one plain file name; ValueError naming it otherwise."""
    name = str(name)
    if not name or name in (".", "..") or os.sep in name or (os.altsep and os.altsep in name) or "\x00" in name:
        raise ValueError(f"output name {name!r} would leave --out={out}; rename the input")
    return pathlib.Path(out) / name


def empty_task_dirs(out, tasks, program, overwrite=False):
    """Makes `out`; refuses (FileExistsError, before any work) task directories `out/<task>` that hold
    files (or are symlinks), unless `overwrite`: then empties them."""
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    busy = [t for t in tasks if (out / t).is_symlink() or ((out / t).is_dir() and any((out / t).iterdir()))]
    if busy and not overwrite:
        refuse_overwrite(out, busy, program)
    for t in busy:
        if (out / t).is_symlink():
            (out / t).unlink()
        else:
            shutil.rmtree(out / t)
