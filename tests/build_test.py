"""`BUILD` files stay true: every Python file belongs to a target, and no target names a missing file.

The Bazel BUILD files are Starlark, which for these rules is valid Python; they are evaluated with
stand-in rule functions that record each target's files.
"""
import pathlib

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
COVERED_TREES = ("cips_tf", "configs", "pipelines", "tests", "benchmarks")


def _targets():
    targets = []
    for build in sorted(REPO_ROOT.rglob("BUILD")):
        parts = build.relative_to(REPO_ROOT).parts
        if any(part.startswith(".") for part in parts) or parts[0] in ("third_party", "runs", "build"):
            continue  # hidden dirs (.venv), the offline Bazel stand-ins, outputs
        package = build.parent

        def rule(kind, package=package, build=build):
            def record(name, srcs=(), data=(), **kwargs):
                files = [package / s for s in srcs if not s.startswith(("//", ":"))]  # labels name targets
                data_files = [package / d for d in data if not d.startswith(("//", ":"))]
                targets.append((build, kind, name, files, data_files))

            return record

        def glob(*args, **kwargs):
            raise AssertionError(f"{build}: glob() hides files from this check; list them")

        scope = {k: rule(k) for k in ("py_library", "py_test", "pytest_test", "py_binary", "filegroup")}
        scope.update(glob=glob, load=lambda *a, **k: None, package=lambda **k: None, exports_files=lambda *a, **k: None)
        exec(compile(build.read_text(), str(build), "exec"), scope)
    return targets


def test_build_targets_name_only_existing_files():
    missing = [
        f"{build.relative_to(REPO_ROOT)}:{name} names {path.relative_to(REPO_ROOT)}"
        for build, _, name, srcs, data in _targets()
        for path in srcs + data
        if not path.exists()
    ]
    assert not missing, "\n".join(missing)


def test_build_every_python_file_belongs_to_a_target():
    covered = {p.resolve() for _, _, _, srcs, _ in _targets() for p in srcs}
    orphans = [
        str(p.relative_to(REPO_ROOT))
        for tree in COVERED_TREES
        for p in sorted((REPO_ROOT / tree).rglob("*.py"))
        if p.resolve() not in covered
    ]
    assert not orphans, "files in no BUILD target:\n" + "\n".join(orphans)


def test_build_every_test_file_is_a_pytest_test():
    # pytest_test (tests/pytest.bzl), not a bare py_test: a py_test only imports the file, so its
    # test functions would never run.
    tests = {p.resolve() for _, kind, _, srcs, _ in _targets() if kind == "pytest_test" for p in srcs}
    missing = [
        str(p.relative_to(REPO_ROOT))
        for p in sorted((REPO_ROOT / "tests").rglob("*_test.py"))
        if p.resolve() not in tests
    ]
    assert not missing, "test files with no pytest_test target:\n" + "\n".join(missing)
