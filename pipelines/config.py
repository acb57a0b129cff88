"""The `pipeline` section of a config: what the pipeline reads beyond the training config.

Any training config (`configs/*.py`) becomes a pipeline config: `with_pipeline_defaults(config)`
adds the `pipeline` section below when the config has none, and fills in any field it lacks.
`pipelines/run.py` applies it right after loading `--config`, so `--config.pipeline.<field>=...`
overrides work on every config file.
"""
import ml_collections
from ml_collections import config_dict

INPUT_SOURCES = ("folder", "tfds", "fashion_mnist")
EXTRACTORS = ("offline", "inception")
EXAMPLE_GEN_RUNNERS = ("local", "beam")


def pipeline_defaults():
    """Default `pipeline` section; every field documented inline."""
    p = ml_collections.ConfigDict()
    # --- ExampleGen ---------------------------------------------------------------------------
    p.input_source = "fashion_mnist"  # folder | tfds | fashion_mnist (offline Debian files)
    p.input_path = ""  # image folder (input_source='folder')
    p.input_name = ""  # TFDS dataset name, e.g. 'celeb_a_hq/256' (input_source='tfds')
    p.input_split = "train"  # TFDS split / fashion_mnist split ('train', 'test', 'all')
    p.input_data_dir = config_dict.placeholder(str)  # TFDS data_dir / Fashion-MNIST IDX dir
    p.input_image_key = "image"  # TFDS image feature
    p.max_examples = 0  # read at most the first N inputs (0: all)
    p.num_shards = 4
    p.skip_bad_images = True  # skip (and report) corrupt files instead of failing
    p.resize_shorter_side = True  # store at the training resolution: resize shorter side + center crop
    p.example_gen_runner = "local"  # local (this process) | beam (Apache Beam; needs the [beam] extra)
    p.example_gen_beam_args = ""  # Beam pipeline options (shell words), e.g. '--runner=DataflowRunner --project=P'
    # --- Evaluator --------------------------------------------------------------------------
    p.extractor = "offline"  # offline (Fashion-MNIST CNN, NON-STANDARD) | inception (standard FID)
    p.extractor_path = config_dict.placeholder(str)  # trained extractor dir / Inception file
    p.extractor_cache_dir = config_dict.placeholder(str)  # None: <pipeline_root>/_cache/feature_extractor
    p.extractor_train_epochs = 3  # training of the offline extractor when none is given
    p.extractor_train_images = 0  # 0: all 60,000 Fashion-MNIST training images
    p.eval_num_samples = 1000  # generated images
    p.eval_num_real = 0  # real images (0: eval_num_samples; capped at the Examples count)
    p.eval_batch_size = 64
    p.eval_seed = 0
    p.fid_threshold = config_dict.placeholder(float)  # bless only if FID <= this (None: no limit)
    p.fid_tolerance = 0.0  # bless only if FID <= pushed model's FID + this
    # --- Pusher -----------------------------------------------------------------------------
    p.serving_base = config_dict.placeholder(str)  # None: <pipeline_root>/serving
    p.model_name = "cips"
    p.push_warmup = True  # write TF Serving warmup requests (needs tensorflow-serving-api)
    p.w_avg_samples = 10000  # latents for w_avg when the checkpoint carries none
    return p


def with_pipeline_defaults(config):
    """Returns `config` with a complete `pipeline` section (missing fields from the defaults).

    Works on locked configs (the section is added under `unlocked()` and the config stays locked);
    existing values are kept.
    """
    defaults = pipeline_defaults()
    with config.unlocked():
        if "pipeline" not in config:
            config.pipeline = defaults
        else:
            for key in defaults.keys():
                if key not in config.pipeline:
                    config.pipeline[key] = defaults.get_ref(key)  # keeps the type of None placeholders
    return config


def validate(config):
    """Raises ValueError naming the field for an unusable pipeline section."""
    p = config.pipeline
    if p.input_source not in INPUT_SOURCES:
        raise ValueError(f"pipeline.input_source must be one of {INPUT_SOURCES}, got {p.input_source!r}")
    if p.input_source == "folder" and not p.input_path:
        raise ValueError("pipeline.input_source='folder' needs pipeline.input_path (an image folder)")
    if p.example_gen_runner not in EXAMPLE_GEN_RUNNERS:
        raise ValueError(f"pipeline.example_gen_runner must be one of {EXAMPLE_GEN_RUNNERS}, got "
                         f"{p.example_gen_runner!r}")
    if p.input_source == "tfds" and not p.input_name:
        raise ValueError("pipeline.input_source='tfds' needs pipeline.input_name (a TFDS dataset name)")
    if p.extractor not in EXTRACTORS:
        raise ValueError(f"pipeline.extractor must be one of {EXTRACTORS}, got {p.extractor!r}")
    if not p.model_name or "/" in p.model_name or p.model_name.startswith("."):
        raise ValueError(f"pipeline.model_name: invalid model name {p.model_name!r}")
    if p.num_shards < 1 or p.eval_num_samples < 2 or p.eval_batch_size < 1:
        raise ValueError("pipeline.num_shards, eval_batch_size must be >= 1 and eval_num_samples >= 2")
