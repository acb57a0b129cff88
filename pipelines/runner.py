"""The local runner (TFX's LocalDagRunner): executes components in order, with caching and retries.

Layout under the pipeline root:

    <root>/<Component>/<fp16>/execution.json     a SUCCEEDED execution (fp16: its fingerprint, 16 hex)
    <root>/<Component>/<fp16>/<output_key>/      its output artifacts (artifact.json + payload)
    <root>/<Component>/.tmp-<fp16>/              an execution in progress, interrupted or failed;
                                                 its execution.json says which and why
    <root>/runs.jsonl                            one line per pipeline run: each component's status
    <root>/.lock                                 held (flock) while a run is in progress

Caching. An execution's fingerprint is a SHA-256 over the component name, its code version (the
source of the modules it runs), the config it depends on (`Component.config_view`), the
fingerprints of its input artifacts, and any outside state it reads (`Component.external_state`:
the input folder's file list, the pushed model it must beat, the feature extractor ...). When
`<root>/<Component>/<fp16>/` exists and is valid, the component is not executed: its artifacts are
reused ("cached"). Otherwise the executor writes into `.tmp-<fp16>/`, and only on success the
runner writes `execution.json` and renames the directory to `<fp16>/` (one `os.rename`), so an
interrupted or failed execution never looks finished, and earlier components' artifacts stay valid.

Retries. A failed or interrupted execution is retried on the next run: non-resumable components
start from an empty `.tmp-<fp16>/`; resumable ones (the Trainer) keep it and continue from their
last checkpoint. The attempt count and the errors of earlier attempts are kept in execution.json.
"""
import ast
import contextlib
import dataclasses
import errno
import fcntl
import functools
import hashlib
import importlib
import importlib.util
import importlib.metadata
import json
import os
import pathlib
import shutil
import time
import traceback
import uuid
from typing import Any, Callable, Mapping, Optional

from absl import logging

from cips_tf.errors import UserError
from pipelines import artifacts as artifacts_lib

EXECUTION_FILE = "execution.json"
RUNS_FILE = "runs.jsonl"
TMP_PREFIX = ".tmp-"
FP_LEN = 16

# Statuses of a component in one run (runs.jsonl, PipelineResult.statuses).
CACHED = "cached"
EXECUTED = "executed"
FAILED = "failed"
NOT_RUN = "not_run"


class StageFailedError(RuntimeError):
    """A component's executor raised; the run stopped there. `component` names it."""

    def __init__(self, component, error):
        super().__init__(f"pipeline component {component} failed: {type(error).__name__}: {error}")
        self.component = component
        self.error = error


@dataclasses.dataclass(frozen=True)
class ExecutionContext:
    """What an executor gets: its inputs, where to write its outputs, and the run's config."""

    component: str
    config: Any  # the full pipeline config (ml_collections.ConfigDict)
    pipeline_root: pathlib.Path
    inputs: Mapping[str, artifacts_lib.Artifact]
    output_dirs: Mapping[str, pathlib.Path]  # output key -> directory to fill (exists, empty or resumed)
    work_dir: pathlib.Path  # the execution's temporary directory (holds output_dirs)
    fingerprint: str
    attempt: int
    external: Any  # the value of Component.external_state


@dataclasses.dataclass(frozen=True)
class Component:
    """A pipeline component: a TFX component id plus its executor and cache key.

    Attributes:
      name: the TFX component id ("ExampleGen", "Trainer", ...).
      executor: `executor(ctx: ExecutionContext) -> {output_key: properties dict}`.
      inputs: input key -> (producer component name, producer output key).
      outputs: output key -> artifact type (`artifacts.ARTIFACT_TYPES`).
      config_view: `config_view(config, pipeline_root) -> JSON value`: the config the result
        depends on (part of the cache key).
      external_state: optional `external_state(config, pipeline_root, inputs) -> JSON value`:
        state outside the pipeline root the result depends on (part of the cache key; passed to
        the executor as `ctx.external`).
      code: more module names for the code version; the executor's module and every cips_tf /
        pipelines module it imports (transitively) are always included.
      resumable: keep the temporary directory of a failed attempt (the executor resumes from it).
      cache_invalid_reason: optional `f(outputs: {key: Artifact}) -> str or None`: a reason why a
        succeeded execution can no longer be reused (e.g. its pushed model was deleted).
      check_dependencies: optional `f(config)` that raises ImportError (saying what to install)
        when a package the executor needs is missing; run for every component before the first
        one executes, so a missing package does not show only after hours of training.
    """

    name: str
    executor: Callable[[ExecutionContext], Mapping[str, dict]]
    inputs: Mapping[str, tuple]
    outputs: Mapping[str, str]
    config_view: Callable[[Any, pathlib.Path], Any]
    external_state: Optional[Callable[[Any, pathlib.Path, Mapping[str, artifacts_lib.Artifact]], Any]] = None
    code: tuple = ()
    resumable: bool = False
    cache_invalid_reason: Optional[Callable[[Mapping[str, artifacts_lib.Artifact]], Optional[str]]] = None
    check_dependencies: Optional[Callable[[Any], None]] = None


class MissingDependencyError(UserError, ImportError):
    """A component's dependencies are not installed; nothing was run."""


def check_dependencies(components, config):
    """Runs every component's `check_dependencies`; raises one `MissingDependencyError` naming
    each component whose packages are missing (and what to install)."""
    missing = []
    for component in components:
        if component.check_dependencies is None:
            continue
        try:
            component.check_dependencies(config)
        except ImportError as e:
            missing.append(f"{component.name}: {str(e).splitlines()[0]}")
    if missing:
        raise MissingDependencyError("pipeline not started: " + "; ".join(missing))


@dataclasses.dataclass
class PipelineResult:
    run_id: str
    statuses: dict  # component -> CACHED | EXECUTED | FAILED | NOT_RUN
    artifacts: dict  # component -> {output key: Artifact}
    record: dict  # the runs.jsonl line of this run


_OWN_PACKAGES = ("cips_tf", "pipelines")


@functools.lru_cache(maxsize=None)
def _package_root(package):
    return pathlib.Path(importlib.util.find_spec(package).submodule_search_locations[0])


def _source_file(module):
    """The .py file of a module of this project, or None (third-party modules, names of objects)."""
    top, *rest = module.split(".")
    if top not in _OWN_PACKAGES:
        return None
    base = _package_root(top).joinpath(*rest)
    for path in (base / "__init__.py", base.with_suffix(".py")):
        if path.is_file():
            return path
    return None


def imported_modules(module):
    """`module` and every module of cips_tf / pipelines it imports, transitively, as {name: path}.

    Read from the source (function-level imports included), so the code version follows what a
    component really runs, without a hand-kept list.
    """
    found, todo = {}, [module]
    while todo:
        name = todo.pop()
        path = _source_file(name)
        if name in found or path is None:
            continue
        found[name] = path
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
                names = [base] + [f"{base}.{alias.name}" for alias in node.names]
            else:
                continue
            for imported in names:  # a module's import also runs its packages' __init__
                parts = imported.split(".")
                todo.extend(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return found


@functools.lru_cache(maxsize=None)
def code_version(modules):
    """SHA-256 of the installed cips-tf version and the source of `modules` and of every project
    module they import (memoized per process)."""
    try:
        version = importlib.metadata.version("cips-tf")
    except importlib.metadata.PackageNotFoundError:
        version = "source"
    digest = hashlib.sha256(version.encode())
    files = {}
    for name in modules:
        files.update(imported_modules(name))
    for name, path in sorted(files.items()):
        digest.update(f"{name}:".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def execution_fingerprint(component, config, pipeline_root, inputs, external):
    return artifacts_lib.fingerprint_of(
        {
            "component": component.name,
            "code": code_version((component.executor.__module__, *component.code)),
            "config": component.config_view(config, pipeline_root),
            "inputs": {k: a.fingerprint for k, a in sorted(inputs.items())},
            "external": external,
        }
    )


def _read_json(path):
    try:
        return json.loads(pathlib.Path(path).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _load_outputs(component, directory):
    return {
        key: artifacts_lib.read_artifact(directory / key, expected_type=kind) for key, kind in component.outputs.items()
    }


def _cached_outputs(component, final_dir):
    """The outputs of a reusable succeeded execution in `final_dir`, else (None, why not)."""
    record = _read_json(final_dir / EXECUTION_FILE)
    if record is None:
        return None, "no succeeded execution"
    if record.get("status") != "succeeded":
        return None, f"execution status {record.get('status')!r}"
    try:
        outputs = _load_outputs(component, final_dir)
    except (FileNotFoundError, ValueError, TypeError) as e:
        return None, f"unreadable output artifact: {e}"
    if component.cache_invalid_reason is not None:
        reason = component.cache_invalid_reason(outputs)
        if reason:
            return None, reason
    return outputs, None


@contextlib.contextmanager
def _root_lock(root):
    try:  # O_NOFOLLOW: a planted .lock symlink is refused, never followed
        fd = os.open(root / ".lock", os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as e:
        if e.errno != errno.ELOOP:
            raise
        raise RuntimeError(f"{root / '.lock'} is a symlink; the pipeline lock never follows one: remove it") from None
    with os.fdopen(fd, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"{root}: another pipeline run holds {root / '.lock'}") from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _execute(component, ctx_args, final_dir, tmp_dir):
    """Runs the executor in `tmp_dir`, then commits it to `final_dir`. Returns the outputs."""
    previous = _read_json(tmp_dir / EXECUTION_FILE) if tmp_dir.exists() else None
    attempt = (previous or {}).get("attempt", 0) + 1
    history = list((previous or {}).get("previous_attempts", []))
    if previous is not None:
        history.append({k: previous.get(k) for k in ("attempt", "status", "error", "started", "finished")})
        logging.info(
            "[%s] retrying (attempt %d); the previous attempt %s%s", component.name, attempt,
            "was interrupted" if previous.get("status") == "running" else "failed",
            f": {previous.get('error')}" if previous.get("error") else "",
        )
    if tmp_dir.exists() and not component.resumable:
        shutil.rmtree(tmp_dir)
    tmp_dir.mkdir(parents=True, exist_ok=True)
    output_dirs = {key: tmp_dir / key for key in component.outputs}
    for d in output_dirs.values():
        d.mkdir(exist_ok=True)
    status = {
        "component": component.name,
        "fingerprint": ctx_args["fingerprint"],
        "status": "running",
        "attempt": attempt,
        "pid": os.getpid(),
        "started": artifacts_lib.utc_now(),
        "inputs": {k: a.uri for k, a in ctx_args["inputs"].items()},
        "previous_attempts": history,
    }
    artifacts_lib.write_json_atomic(tmp_dir / EXECUTION_FILE, status)
    ctx = ExecutionContext(
        component=component.name, output_dirs=output_dirs, work_dir=tmp_dir, attempt=attempt, **ctx_args
    )
    try:
        properties = component.executor(ctx) or {}
        missing = set(component.outputs) - set(properties)
        if missing:
            raise RuntimeError(f"executor of {component.name} returned no properties for {sorted(missing)}")
        outputs = {}
        for key, kind in component.outputs.items():
            artifact = artifacts_lib.Artifact(
                type=kind,
                uri=str(final_dir / key),
                properties=dict(properties[key]),
                producer=component.name,
                execution=ctx.fingerprint,
                fingerprint=artifacts_lib.fingerprint_of([ctx.fingerprint, key]),
                created=artifacts_lib.utc_now(),
            )
            artifacts_lib.write_artifact(artifact, tmp_dir / key)
            outputs[key] = artifact
    except BaseException as e:
        status.update(status="failed", error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc(),
                      finished=artifacts_lib.utc_now())
        artifacts_lib.write_json_atomic(tmp_dir / EXECUTION_FILE, status)
        raise
    status.update(status="succeeded", finished=artifacts_lib.utc_now(),
                  outputs={k: a.fingerprint for k, a in outputs.items()})
    artifacts_lib.write_json_atomic(tmp_dir / EXECUTION_FILE, status)
    if final_dir.exists():  # an invalidated earlier execution (see cache_invalid_reason)
        stale = final_dir.with_name(f"{TMP_PREFIX}stale-{final_dir.name}-{uuid.uuid4().hex}")
        os.rename(final_dir, stale)
        shutil.rmtree(stale, ignore_errors=True)
    os.rename(tmp_dir, final_dir)  # the commit
    return outputs


def run_pipeline(components, config, pipeline_root):
    """Runs `components` (in order; each one's inputs come from earlier ones) under `pipeline_root`.

    Returns a `PipelineResult`. Raises `MissingDependencyError` before anything runs when a
    component's dependencies are missing, and `StageFailedError` (after recording the failure in the
    component's execution.json and in runs.jsonl) when an executor raises; components after it
    are not run.
    """
    check_dependencies(components, config)
    root = pathlib.Path(pipeline_root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    run_id = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"-{uuid.uuid4().hex[:8]}"  # PIDs repeat across pods
    statuses = {c.name: NOT_RUN for c in components}
    produced = {}
    details = {}
    record = {"run_id": run_id, "pipeline_root": str(root), "started": artifacts_lib.utc_now(), "components": details}
    logging.info("pipeline run %s in %s: %s", run_id, root, " -> ".join(c.name for c in components))
    with _root_lock(root):
        try:
            for component in components:
                start = time.time()
                inputs = {}
                for key, (producer, output_key) in component.inputs.items():
                    if producer not in produced:
                        raise ValueError(f"{component.name}.{key} needs {producer}, which does not run before it")
                    inputs[key] = produced[producer][output_key]
                external = None
                if component.external_state is not None:
                    external = component.external_state(config, root, inputs)
                fingerprint = execution_fingerprint(component, config, root, inputs, external)
                short = fingerprint[:FP_LEN]
                final_dir = root / component.name / short
                tmp_dir = root / component.name / f"{TMP_PREFIX}{short}"
                outputs, why_not = _cached_outputs(component, final_dir)
                info = {"fingerprint": fingerprint, "dir": str(final_dir)}
                if outputs is not None:
                    statuses[component.name] = CACHED
                    logging.info("[%s] cached: inputs and config unchanged (fingerprint %s); reusing %s",
                                 component.name, short, final_dir)
                else:
                    logging.info("[%s] executing (fingerprint %s; %s)", component.name, short, why_not)
                    ctx_args = dict(config=config, pipeline_root=root, inputs=inputs, fingerprint=fingerprint,
                                    external=external)
                    try:
                        outputs = _execute(component, ctx_args, final_dir, tmp_dir)
                    except BaseException as e:
                        statuses[component.name] = FAILED
                        info.update(error=f"{type(e).__name__}: {e}", dir=str(tmp_dir),
                                    seconds=round(time.time() - start, 2))
                        details[component.name] = dict(info, status=FAILED)
                        logging.error("[%s] FAILED after %.1fs: %s: %s (partial work kept in %s; rerun to retry)",
                                      component.name, time.time() - start, type(e).__name__, e, tmp_dir)
                        if isinstance(e, Exception):
                            raise StageFailedError(component.name, e) from e
                        raise
                    statuses[component.name] = EXECUTED
                    logging.info("[%s] succeeded in %.1fs -> %s", component.name, time.time() - start, final_dir)
                produced[component.name] = outputs
                info.update(seconds=round(time.time() - start, 2),
                            outputs={k: {"uri": a.uri, "type": a.type, "fingerprint": a.fingerprint}
                                     for k, a in outputs.items()})
                details[component.name] = dict(info, status=statuses[component.name])
        finally:
            for name, status in statuses.items():
                details.setdefault(name, {"status": status})
            record.update(finished=artifacts_lib.utc_now(), status="failed" if FAILED in statuses.values()
                          else ("interrupted" if NOT_RUN in statuses.values() else "succeeded"))
            with open(root / RUNS_FILE, "a") as f:
                f.write(artifacts_lib.canonical_json(record) + "\n")
    logging.info("pipeline run %s done: %s", run_id, ", ".join(f"{k}={v}" for k, v in statuses.items()))
    return PipelineResult(run_id=run_id, statuses=statuses, artifacts=produced, record=record)


def read_runs(pipeline_root):
    """All run records of `pipeline_root/runs.jsonl`, oldest first."""
    path = pathlib.Path(pipeline_root) / RUNS_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
