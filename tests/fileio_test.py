"""cips_tf.fileio: whole-or-nothing writes, unique temporaries, no symlink followed."""
import errno
import os

import pytest

from cips_tf import fileio


def test_atomic_write_replaces_whole_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "a.json"
    path.write_text("old")
    with fileio.atomic_write(path) as f:
        f.write("new")
        assert path.read_text() == "old"  # readers see the old file until the block ends
    assert path.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_atomic_write_that_raises_keeps_the_old_file(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with fileio.atomic_write(path, "wb") as f:
            f.write(b"half")
            raise RuntimeError("killed")
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]


def test_atomic_write_replaces_a_planted_link_without_writing_through_it(tmp_path):
    target = tmp_path / "victim"
    target.write_text("precious")
    link = tmp_path / "out.txt"
    link.symlink_to(target)
    with fileio.atomic_write(link) as f:
        f.write("mine")
    assert target.read_text() == "precious"
    assert not link.is_symlink() and link.read_text() == "mine"


def test_temporary_names_are_unique_hidden_siblings(tmp_path):
    names = {fileio.temporary_name(tmp_path / "x") for _ in range(100)}
    assert len(names) == 100
    assert all(n.parent == tmp_path and n.name.startswith(".x.tmp-") for n in names)


def test_open_nofollow_refuses_a_symlink(tmp_path):
    real = tmp_path / "real"
    real.write_bytes(b"data")
    (tmp_path / "link").symlink_to(real)
    with fileio.open_nofollow(real) as f:
        assert f.read() == b"data"
    with pytest.raises(OSError) as e:
        fileio.open_nofollow(tmp_path / "link")
    assert e.value.errno == errno.ELOOP


def test_bad_modes_are_refused(tmp_path):
    with pytest.raises(ValueError, match="mode"):
        with fileio.atomic_write(tmp_path / "x", "a"):
            pass
    with pytest.raises(ValueError, match="mode"):
        fileio.open_nofollow(tmp_path / "x", "w")
    assert not os.listdir(tmp_path)
