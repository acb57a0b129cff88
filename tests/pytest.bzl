"""`pytest_test`: a py_test whose test file is collected and run by pytest.

A plain py_test would only import the file (pytest-style test functions never run, so it could
not fail); this one runs `tests/pytest_main.py <file>`, which calls `pytest.main`. Runfiles get no
generated `__init__.py` files, so the tests import their helpers as they do under plain pytest.
"""

def pytest_test(name, srcs, deps = [], data = [], args = [], **kwargs):
    native.py_test(
        name = name,
        srcs = srcs + ["//tests:pytest_main.py"],
        main = "//tests:pytest_main.py",
        args = ["$(location %s)" % src for src in srcs] + args,
        # conftest (fixtures, two logical CPUs) and the package root's __init__.py, once each.
        deps = deps + [
            d
            for d in ["//tests:conftest", "//cips_tf"]
            if d not in deps and d.replace("//tests", "") not in deps
        ],
        data = data + ["//:setup.cfg"],
        legacy_create_init = False,
        python_version = "PY3",
        **kwargs
    )
