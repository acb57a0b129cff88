"""The pipeline compiled for Kubeflow Pipelines v2 (pipelines/kubeflow.py): the spec's structure, the
committed example spec (regenerated here so it never rots), and a full run of the compiled
components under KFP's local SubprocessRunner (offline, no Docker). Skipped without the [kfp] extra."""
import json
import os
import pathlib
import subprocess
import sys

import pytest

import extras

kfp, yaml = extras.require("kfp"), extras.require("kfp", "yaml")  # --compile=kubeflow; specs are YAML

from pipelines import config as config_lib  # noqa: E402
from pipelines import kfp_components  # noqa: E402
from pipelines import kubeflow  # noqa: E402
from tiny_models import smoke_config  # noqa: E402

pytestmark = pytest.mark.slow  # the slow tier: Kubeflow compiles (a process each) and kfp.local runs

REPO = pathlib.Path(__file__).resolve().parents[2]
COMMITTED_SPEC = REPO / "docs" / "kubeflow_pipeline.yaml"
# How the committed spec is made (docs/pipeline.md shows the same command).
COMPILE_ARGS = ["--config=configs/quickstart.py", "--compile=kubeflow", "--image=cips-tf:latest",
                "--shared_root=/gcs/YOUR_BUCKET/cips"]
EXPECTED_DEPENDENCIES = {"example-gen": [], "trainer": ["example-gen"], "evaluator": ["example-gen", "trainer"],
                         "pusher": ["evaluator", "trainer"]}
EXPECTED_ARTIFACT_INPUTS = {
    "example-gen": {},
    "trainer": {"examples": ("example-gen", "examples")},
    "evaluator": {"examples": ("example-gen", "examples"), "model": ("trainer", "model")},
    "pusher": {"model": ("trainer", "model"), "blessing": ("evaluator", "blessing")},
}


def compile_cli(output, *args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "pipelines.run", *args, f"--output={output}"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    return next(yaml.safe_load_all(pathlib.Path(output).read_text()))


@pytest.fixture(scope="module")
def spec_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("kfp") / "pipeline.yaml"
    compile_cli(path, *COMPILE_ARGS)
    return path


@pytest.fixture(scope="module")
def spec(spec_path):
    return next(yaml.safe_load_all(spec_path.read_text()))


def test_compiled_spec_has_the_four_tasks_with_their_dependencies_and_artifacts(spec):
    tasks = spec["root"]["dag"]["tasks"]
    assert sorted(tasks) == sorted(kubeflow.TASKS)
    for name, task in tasks.items():
        assert sorted(task.get("dependentTasks", [])) == EXPECTED_DEPENDENCIES[name], name
        wired = {key: (value["taskOutputArtifact"]["producerTask"], value["taskOutputArtifact"]["outputArtifactKey"])
                 for key, value in task["inputs"].get("artifacts", {}).items()}
        assert wired == EXPECTED_ARTIFACT_INPUTS[name], name
        assert {k: v["componentInputParameter"] for k, v in task["inputs"]["parameters"].items()} == {
            "config_json": "config_json", "shared_root": "shared_root"}


def test_compiled_spec_parameters_artifact_types_and_image(spec):
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert params["shared_root"]["defaultValue"] == "/gcs/YOUR_BUCKET/cips"
    sys.path.insert(0, str(REPO / "configs"))
    import quickstart  # pylint: disable=import-outside-toplevel

    compiled = kfp_components.config_from_json(params["config_json"]["defaultValue"])
    expected = config_lib.with_pipeline_defaults(quickstart.get_config())
    assert compiled.to_dict() == json.loads(expected.to_json())
    outputs = {name: spec["components"][f"comp-{name}"]["outputDefinitions"]["artifacts"] for name in kubeflow.TASKS}
    types = {name: {k: v["artifactType"]["schemaTitle"] for k, v in arts.items()} for name, arts in outputs.items()}
    assert types == {"example-gen": {"examples": "system.Dataset"}, "trainer": {"model": "system.Model"},
                     "evaluator": {"evaluation": "system.Artifact", "blessing": "system.Artifact"},
                     "pusher": {"pushed_model": "system.Artifact"}}
    for name, executor in spec["deploymentSpec"]["executors"].items():
        container = executor["container"]
        assert container["image"] == "cips-tf:latest", name
        assert "pip install" not in " ".join(container["command"]), f"{name} would install packages at start"
        assert "kfp_components.run(" in container["command"][-1], name


def test_committed_example_spec_is_what_the_compiler_writes_now(spec_path):
    # Whole, the compiled-in config included: a change of configs/quickstart.py or of the config
    # defaults comes with the regenerated file.
    assert spec_path.read_text() == COMMITTED_SPEC.read_text(), (
        f"{COMMITTED_SPEC.relative_to(REPO)} is stale: regenerate it with `cips-pipeline {' '.join(COMPILE_ARGS)} "
        f"--output={COMMITTED_SPEC.relative_to(REPO)}`")


def test_compile_with_pvc_mounts_the_volume_at_shared_root_in_every_task(tmp_path):
    extras.require("kfp", "kfp.kubernetes")  # --pvc needs kfp-kubernetes
    output = tmp_path / "pvc.yaml"
    compile_cli(output, "--config=configs/smoke.py", "--compile=kubeflow", "--pvc=cips-shared",
                "--shared_root=/mnt/cips")
    pipeline_spec, platform_spec = yaml.safe_load_all(output.read_text())
    assert pipeline_spec["root"]["inputDefinitions"]["parameters"]["shared_root"]["defaultValue"] == "/mnt/cips"
    executors = platform_spec["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert sorted(executors) == sorted(f"exec-{t}" for t in kubeflow.TASKS)
    for name, executor in executors.items():
        (mount,) = executor["pvcMount"]
        assert mount["mountPath"] == "/mnt/cips" and mount["constant"] == "cips-shared", name


def test_kfp_component_is_chief_follows_tf_config():
    assert kfp_components.is_chief("")
    two_workers = {"cluster": {"worker": ["a:1", "b:1"]}}
    assert kfp_components.is_chief(json.dumps(dict(two_workers, task={"type": "worker", "index": 0})))
    assert not kfp_components.is_chief(json.dumps(dict(two_workers, task={"type": "worker", "index": 1})))
    with_chief = {"cluster": {"chief": ["c:1"], "worker": ["a:1"]}}
    assert kfp_components.is_chief(json.dumps(dict(with_chief, task={"type": "chief", "index": 0})))
    assert not kfp_components.is_chief(json.dumps(dict(with_chief, task={"type": "worker", "index": 0})))


@pytest.mark.filterwarnings("ignore:You may be attemping to run a task:RuntimeWarning")  # our image is not "python:*"
def test_kfp_local_subprocess_runner_runs_the_compiled_smoke_pipeline(tmp_path, tiny_extractor):
    from kfp import local  # pylint: disable=import-outside-toplevel

    config = config_lib.with_pipeline_defaults(smoke_config())
    config.num_train_steps, config.training.checkpoint_every, config.training.strategy = 2, 2, "default"
    config.training.sample_every = 0
    p = config.pipeline
    p.input_split, p.max_examples, p.num_shards = "test", 64, 2
    p.extractor_path = str(tiny_extractor)  # the session's extractor: the Evaluator task need not train one
    p.eval_num_samples, p.eval_batch_size, p.w_avg_samples, p.fid_threshold = 16, 8, 64, 1e9
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "kfp_root"))
    shared = tmp_path / "shared"
    kubeflow.build_pipeline(config, shared_root=str(shared))()

    (run_dir,) = (tmp_path / "kfp_root").iterdir()
    examples = json.loads((run_dir / "example-gen" / "examples" / "artifact.json").read_text())
    assert examples["type"] == "Examples" and examples["properties"]["num_examples"] == 64
    model = json.loads((run_dir / "trainer" / "model" / "artifact.json").read_text())
    assert model["properties"]["step"] == 2 and (run_dir / "trainer" / "model" / "workdir" / "checkpoints").is_dir()
    blessing = json.loads((run_dir / "evaluator" / "blessing" / "artifact.json").read_text())["properties"]
    assert blessing["blessed"] and blessing["metric"] == "fid_offline"
    pushed = json.loads((run_dir / "pusher" / "pushed_model" / "artifact.json").read_text())["properties"]
    assert pushed["pushed"] and pushed["version"] == 1
    assert (shared / "serving" / "cips" / "1" / "saved_model.pb").exists()
    executor_output = json.loads((run_dir / "example-gen" / "executor_output.json").read_text())
    assert executor_output["artifacts"]["examples"]["artifacts"][0]["metadata"]["num_examples"] == 64


def test_compile_without_shared_root_fails_naming_the_flag_and_no_tmp_default(tmp_path):
    # A fixed /tmp default could be pre-created by another user of the machine (kfp.local runs).
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "pipelines.run", "--config=configs/smoke.py", "--compile=kubeflow",
                           f"--output={tmp_path / 'p.yaml'}"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode != 0 and not (tmp_path / "p.yaml").exists()
    assert "--shared_root" in proc.stderr.strip().splitlines()[-1]
    import inspect

    for fn in (kubeflow.build_pipeline, kubeflow.compile_pipeline):
        assert inspect.signature(fn).parameters["shared_root"].default is inspect.Parameter.empty
