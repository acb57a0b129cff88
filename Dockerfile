# The cips-tf image: the tasks of the Kubeflow Pipelines spec (cips-pipeline --compile=kubeflow) and
# the workers of the Beam dataset pipeline on Dataflow (cips-dataset --runner=beam), built from this
# repository. Not built in CI (no container engine there); see docs/pipeline.md.
#
#   docker build -t REGISTRY/cips-tf:TAG .
#   docker push REGISTRY/cips-tf:TAG
#
# Kubeflow runs each task with its own command (it replaces the entrypoint below). Dataflow starts
# the Beam SDK harness through the entrypoint: pass --sdk_container_image=REGISTRY/cips-tf:TAG.
# A GPU image: build FROM a CUDA base that has Python 3.11 and install tensorflow[and-cuda]==2.21.*.
FROM apache/beam_python3.11_sdk:2.77.0 AS beam

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 TF_CPP_MIN_LOG_LEVEL=2
# Debian's Fashion-MNIST: the offline data of the quickstart and smoke configs.
RUN apt-get update \
    && apt-get install -y --no-install-recommends dataset-fashion-mnist \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/cips-tf
COPY pyproject.toml setup.cfg README.md ./
COPY cips_tf ./cips_tf
COPY pipelines ./pipelines
COPY configs ./configs
# metrics: the Evaluator (tensorflow-gan KID); beam: ExampleGen / cips-dataset on Beam workers;
# kfp: the executor that runs each Kubeflow task (kfp.dsl.executor_main).
RUN pip install ".[metrics,beam,kfp]"
# The Beam SDK harness (the same Beam version as the [beam] extra), for Dataflow workers.
COPY --from=beam /opt/apache/beam /opt/apache/beam
ENTRYPOINT ["/opt/apache/beam/boot"]
