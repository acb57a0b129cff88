"""Typed pipeline artifacts: a directory plus a small `artifact.json` (TFX's Artifact + MLMD row).

Every output of a component is a directory under the pipeline root holding its payload and an
`artifact.json`:

    {
      "type": "Examples",                     # one of ARTIFACT_TYPES (TFX standard artifact names)
      "uri": "/abs/path/to/the/directory",
      "properties": {...},                    # small JSON values: counts, metrics, blessed ...
      "producer": "ExampleGen",               # component id that wrote it
      "execution": "3f1c...",                 # fingerprint of the producing execution
      "fingerprint": "9a0b...",               # identity used by downstream cache keys
      "created": "2024-01-01T00:00:00Z"
    }

A fingerprint is a SHA-256 over canonical JSON (`fingerprint_of`), so equal inputs give equal
fingerprints in any process; downstream components key their cache on their inputs' fingerprints.
"""
import dataclasses
import hashlib
import json
import pathlib
import time

from cips_tf import fileio

ARTIFACT_FILE = "artifact.json"

# TFX standard artifact type names (tfx.types.standard_artifacts).
EXAMPLES = "Examples"
MODEL = "Model"
MODEL_EVALUATION = "ModelEvaluation"
MODEL_BLESSING = "ModelBlessing"
PUSHED_MODEL = "PushedModel"
ARTIFACT_TYPES = (EXAMPLES, MODEL, MODEL_EVALUATION, MODEL_BLESSING, PUSHED_MODEL)


def canonical_json(value):
    """Deterministic JSON text (sorted keys, no whitespace); non-JSON values go through `str`."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def fingerprint_of(value):
    """SHA-256 hex digest of `canonical_json(value)`."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


def write_json_atomic(path, value):
    """Writes `value` as indented JSON to `path` via a temporary file and `os.replace`."""
    # Unique, exclusive and never through a symlink: writers in other pods never share a file.
    with fileio.atomic_write(path) as f:
        f.write(json.dumps(value, indent=2, sort_keys=True, default=str) + "\n")


def utc_now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclasses.dataclass(frozen=True)
class Artifact:
    """One typed artifact: its directory (`uri`) and metadata."""

    type: str
    uri: str
    properties: dict
    producer: str
    execution: str
    fingerprint: str
    created: str = ""

    @property
    def path(self):
        return pathlib.Path(self.uri)

    def to_json(self):
        return dataclasses.asdict(self)

    def moved_to(self, uri):
        """The same artifact at another directory (after the runner's commit rename)."""
        return dataclasses.replace(self, uri=str(uri))


def write_artifact(artifact, directory=None):
    """Writes `artifact.json` into `directory` (default `artifact.uri`).

    The runner writes into the execution's temporary directory an artifact whose `uri` is already
    the final location it gets after the commit rename.
    """
    if artifact.type not in ARTIFACT_TYPES:
        raise ValueError(f"unknown artifact type {artifact.type!r}; want one of {ARTIFACT_TYPES}")
    directory = pathlib.Path(directory or artifact.uri)
    directory.mkdir(parents=True, exist_ok=True)
    write_json_atomic(directory / ARTIFACT_FILE, artifact.to_json())


def read_artifact(directory, expected_type=None):
    """Reads `<directory>/artifact.json`; the returned `uri` is `directory` (wherever it now is)."""
    directory = pathlib.Path(directory)
    path = directory / ARTIFACT_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: {directory} is not a pipeline artifact")
    fields = json.loads(path.read_text())
    artifact = Artifact(**fields).moved_to(directory.resolve())
    if expected_type is not None and artifact.type != expected_type:
        raise ValueError(f"{directory}: want a {expected_type} artifact, got {artifact.type}")
    return artifact
