"""Optional extras in tests: skip when absent, fail when required or broken.

`require("beam")` imports the extra's modules and returns the first; when one is not installed the
test (or, at module level, the file) is skipped with the pip command in the reason. Two cases fail
instead of skipping:

- the extra is named in `CIPS_REQUIRE_EXTRAS` (comma-separated; `.ci/run` sets
  `beam,kfp,torch,video,onnx,openvino,litert,bazel`), so CI cannot go green with a whole engine silently off;
- the module is installed but its import fails for another reason (an `ImportError` that is not
  "no module named <it>", or a missing dependency of it): a broken install is a bug, not an absent
  extra.

`require_command("bazel")` does the same for a program on PATH. conftest.py calls
`check_required()` at start-up, so a required extra that cannot be imported stops the run before
any test, also for test files that import it their own way.
"""
import importlib
import os
import shutil

import pytest

# extra -> the modules its tests import (the first is returned)
EXTRAS = {
    "beam": ("apache_beam",),
    "kfp": ("kfp",),
    "torch": ("torch",),
    "video": ("imageio", "imageio_ffmpeg"),
    "onnx": ("onnxruntime", "tf2onnx", "onnx"),
    "openvino": ("openvino",),
    "litert": ("ai_edge_litert.interpreter",),
}
COMMANDS = {"bazel": "Debian's bazel-bootstrap (.ci/run installs it)"}
KNOWN = set(EXTRAS) | set(COMMANDS)


def required():
    """The extras and commands named in CIPS_REQUIRE_EXTRAS (unknown names are an error)."""
    names = {n.strip() for n in os.environ.get("CIPS_REQUIRE_EXTRAS", "").split(",") if n.strip()}
    unknown = names - KNOWN
    if unknown:
        raise pytest.UsageError(f"CIPS_REQUIRE_EXTRAS names {sorted(unknown)}; known: {sorted(KNOWN)}")
    return names


def _absent(name, reason):
    if name in required():
        pytest.fail(f"{reason}, and CIPS_REQUIRE_EXTRAS requires it", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def require(extra, *modules):
    """Imports `modules` (default: the extra's own) and returns the first one."""
    imported = []
    for name in modules or EXTRAS[extra]:
        try:
            imported.append(importlib.import_module(name))
        except ModuleNotFoundError as e:
            if e.name is not None and (name == e.name or name.startswith(e.name + ".")):
                _absent(extra, f"needs the [{extra}] extra ({name} is not installed): pip install 'cips-tf[{extra}]'")
            pytest.fail(f"the [{extra}] extra is broken: importing {name} failed: {e!r}", pytrace=False)
        except ImportError as e:
            pytest.fail(f"the [{extra}] extra is broken: importing {name} failed: {e!r}", pytrace=False)
    return imported[0]


def check_required():
    """Raises pytest.UsageError naming every required extra (or command) that is absent or broken."""
    problems = []
    for name in sorted(required()):
        if name in COMMANDS:
            if shutil.which(name) is None:
                problems.append(f"{name}: not on PATH ({COMMANDS[name]})")
            continue
        for module in EXTRAS[name]:
            try:
                importlib.import_module(module)
            except ImportError as e:  # ModuleNotFoundError included
                problems.append(f"[{name}] extra: importing {module} failed: {e!r}")
    if problems:
        raise pytest.UsageError("CIPS_REQUIRE_EXTRAS names extras that cannot be used:\n  " + "\n  ".join(problems))


def require_command(command):
    """Skips (or, when required, fails) unless `command` is on PATH."""
    if shutil.which(command) is None:
        _absent(command, f"{command} is not installed ({COMMANDS[command]})")
