"""Untrusted inputs (issue 17): runs the real CLIs on small crafted inputs under a memory limit and
prints input / runs / passed / peak memory, with the peak of a run on the same data without them.

    python3 benchmarks/bad_inputs.py --runs=3 [--scenarios=long_png_dataset,...] [--fast]
                                     [--mem_limit_gb=8] [--work=/tmp/cips_bad_inputs]

Each scenario builds its input in a fresh temp folder (small files only: a 1 x 1,000,000 PNG of ~3 KB,
a PNG whose header declares 2**28 pixels, a ~1 MB zip holding a 1 GiB member of zeros, a folder with
`ext -> ../outside` and `loop -> .` symlinks, a TFRecord shard with malformed records), runs the CLI
(`python -m cips_tf.cli.dataset`, or `cips_tf.cli.train` for a few steps of `configs/smoke.py`) in a
fresh process whose address space is capped (`RLIMIT_AS`; TensorFlow reserves much more address
space than it touches, so the cap is generous: a clean run needs ~3-4 GiB of it), measures that
process's peak RSS (`os.wait4`), and checks what the run wrote and printed. A scenario with a
`baseline` is compared with the peak of that clean scenario: acceptance is within 1.5x.

Scenario interface (other modules plug in their rows: `bad_inputs_export.SCENARIOS` is collected
when that module exists):

    {"name": str,
     "build": fn(tmp: pathlib.Path) -> (argv: list[str], env: dict),   argv without the interpreter
     "check": fn(returncode: int, output: str, tmp: pathlib.Path) -> (ok: bool, why: str),
     "fast": bool,                      also runs as a test (tests/benchmarks/bad_inputs_test.py)
     "baseline": optional name of a clean scenario whose peak memory this one is compared with}

`output` is stdout and stderr together. Not a test itself (the cips-train rows take a minute or two each).
"""
import argparse
import json
import os
import pathlib
import resource
import shutil
import signal
import struct
import subprocess
import sys
import time
import zipfile
import zlib

REPO = pathlib.Path(__file__).resolve().parents[1]
PY = sys.executable
SMOKE = str(REPO / "configs" / "smoke.py")
NUM_GOOD = 12  # clean images in every folder / zip / shard
ACCEPTED_RATIO = 1.5


# ------------------------------------------------------------------------------------------------
# Crafted files (written with the standard library and Pillow only: the harness never imports TF)


def _png_chunk(kind, payload):
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_bytes(width, height, rows=None, value=0):
    """An RGB PNG of `width` x `height` (all `value`); with `rows`, only that many rows of data follow
    the header (a header that declares more than the file holds)."""
    row = b"\x00" + bytes([value]) * (3 * width)
    raw = zlib.compress(row * (height if rows is None else rows), 9)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", raw) + _png_chunk(b"IEND", b"")


def good_folder(folder, count=NUM_GOOD, size=32):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (folder / f"img{i:03d}.png").write_bytes(png_bytes(size, size, value=(20 * i) % 256))
    return folder


def good_zip(path, count=NUM_GOOD, size=32, bomb=False):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(count):
            z.writestr(f"img{i:03d}.png", png_bytes(size, size, value=(20 * i) % 256))
        if bomb:  # 1 GiB of zeros, streamed (never whole in memory here): ~1 MB compressed
            with z.open("zeros.png", "w", force_zip64=True) as f:
                block = b"\0" * 2**20
                for _ in range(1024):
                    f.write(block)
    return path


def links_folder(tmp):
    folder = good_folder(tmp / "images")
    outside = good_folder(tmp / "outside", count=3)
    os.symlink(os.path.relpath(outside, folder), folder / "ext")
    os.symlink(".", folder / "loop")
    return folder


def _example(fields):
    """A serialized tf.train.Example from {name: bytes | int}, with the protobuf wire format by hand."""
    def varint(n):
        out = b""
        while True:
            byte, n = n & 0x7F, n >> 7
            out += bytes([byte | (0x80 if n else 0)])
            if not n:
                return out

    def field(number, payload):  # length-delimited
        return varint(number << 3 | 2) + varint(len(payload)) + payload

    entries = b""
    for key, value in sorted(fields.items()):
        if isinstance(value, bytes):
            feature = field(1, field(1, value))  # Feature.bytes_list { value }
        else:
            feature = field(3, field(1, varint(value)))  # Feature.int64_list { value (packed) }
        entries += field(1, field(1, key.encode()) + field(2, feature))
    return field(1, entries)  # Example.features


def _tfrecord(records):
    """TFRecord framing: length, masked crc32c of the length, data, masked crc32c of the data."""
    def crc32c(data):
        crc = 0xFFFFFFFF
        for byte in data:
            crc ^= byte
            for _ in range(8):
                crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
        crc ^= 0xFFFFFFFF
        return ((crc >> 15 | crc << 17) + 0xA282EAD8) & 0xFFFFFFFF

    out = b""
    for data in records:
        length = struct.pack("<Q", len(data))
        out += length + struct.pack("<I", crc32c(length)) + data + struct.pack("<I", crc32c(data))
    return out


def tfrecord_shards(folder, malformed=False, size=32):
    folder.mkdir(parents=True, exist_ok=True)
    records = [_example({"image": png_bytes(size, size, value=(20 * i) % 256), "height": size, "width": size,
                         "source": f"img{i:03d}.png".encode()}) for i in range(NUM_GOOD)]
    if malformed:
        records.insert(3, b"\x0a\xff\xff not an Example")
        records.insert(7, _example({"image": png_bytes(size, size), "source": b"no_size.png"}))  # no height/width
    (folder / "data-00000-of-00001.tfrecord").write_bytes(_tfrecord(records))
    return folder


# ------------------------------------------------------------------------------------------------
# Scenarios


def _dataset_argv(source, tmp, *flags):
    return ["-m", "cips_tf.cli.dataset", f"--source={source}", f"--dest={tmp / 'shards'}", "--resolution=64",
            "--shards=2", *flags]


def _train_argv(tmp, source, path, *overrides):
    return ["-m", "cips_tf.cli.train", f"--config={SMOKE}", f"--workdir={tmp / 'run'}",
            f"--config.data.source={source}", f"--config.data.path={path}", "--config.num_train_steps=3",
            "--config.training.sample_every=0", "--config.training.log_every=1", "--config.data.shuffle_buffer=4",
            *overrides]


def _report(tmp):
    path = tmp / "shards" / "dataset_report.json"
    return json.loads(path.read_text()) if path.exists() else None


def _check_report(examples, skipped=(), left_out=(), words=()):
    """A cips-dataset run that exited 0, wrote `examples` records and skipped / left out the names given."""
    def check(returncode, output, tmp):
        if returncode != 0:
            return False, f"exit {returncode}: {output.strip().splitlines()[-1:]}"
        report = _report(tmp)
        if report is None:
            return False, "no report"
        names = {pathlib.Path(s["path"].rsplit(":", 1)[-1]).name: s["reason"] for s in report["skipped"]}
        gone = {pathlib.Path(s["path"]).name for s in report.get("left_out", [])}
        if report["num_examples"] != examples:
            return False, f"{report['num_examples']} examples written, want {examples}"
        if sorted(names) != sorted(skipped):
            return False, f"skipped {sorted(names)}, want {sorted(skipped)}"
        if not set(left_out) <= gone:
            return False, f"left out {sorted(gone)}, want {sorted(left_out)}"
        for name, word in words:
            if word not in names.get(name, ""):
                return False, f"{name}: reason {names.get(name)!r} lacks {word!r}"
        return True, f"{examples} written, skipped {sorted(names)}, left out {sorted(gone)}"

    return check


def _check_train(skipped_words=(), returncode=0, error_words=()):
    """A cips-train run that exited `returncode`; each word in `skipped_words` in a 'Skipped bad image'
    log line; with an expected failure, one `error:` line holding every word of `error_words`."""
    def check(code, output, tmp):
        if code != returncode:
            return False, f"exit {code}, want {returncode}: {output.strip().splitlines()[-3:]}"
        skipped = [line for line in output.splitlines() if "Skipped bad image" in line]
        for word in skipped_words:
            if not any(word in line for line in skipped):
                return False, f"no 'Skipped bad image' line names {word!r}"
        if error_words:
            errors = [line for line in output.splitlines() if ": error: " in line]
            if len(errors) != 1 or not all(w in errors[0] for w in error_words) or "Traceback" in output:
                return False, f"want one error line with {error_words}, got {errors[-2:]}"
        return True, f"exit {code}, {len(skipped)} skip line(s)"

    return check


def _long_png_dataset(tmp):
    folder = good_folder(tmp / "images")
    (folder / "long.png").write_bytes(png_bytes(1_000_000, 1))  # 1 x 1,000,000: ~3 KB
    return _dataset_argv(folder, tmp), {}


def _huge_header_dataset(tmp):
    folder = good_folder(tmp / "images")
    (folder / "huge.png").write_bytes(png_bytes(16384, 16384, rows=16))  # declares 2**28 pixels
    return _dataset_argv(folder, tmp), {}


def _train_folder_with(tmp, crafted, *overrides):
    folder = good_folder(tmp / "images")
    for name, data in crafted.items():
        (folder / name).write_bytes(data)
    return _train_argv(tmp, "folder", folder, *overrides), {}


_CRAFTED = {"huge.png": png_bytes(16384, 16384, rows=16), "long.png": png_bytes(1_000_000, 1)}

SCENARIOS = [
    # clean baselines
    {"name": "clean_folder_dataset", "fast": False,
     "build": lambda tmp: (_dataset_argv(good_folder(tmp / "images"), tmp), {}),
     "check": _check_report(NUM_GOOD)},
    {"name": "clean_zip_dataset", "fast": False,
     "build": lambda tmp: (_dataset_argv(good_zip(tmp / "images.zip"), tmp), {}),
     "check": _check_report(NUM_GOOD)},
    {"name": "clean_folder_train", "fast": False,
     "build": lambda tmp: _train_folder_with(tmp, {}, "--config.data.skip_bad_images=True"),
     "check": _check_train()},
    {"name": "clean_tfrecord_train", "fast": False,
     "build": lambda tmp: (_train_argv(tmp, "tfrecord", tfrecord_shards(tmp / "shards"),
                                       "--config.data.skip_bad_images=True"), {}),
     "check": _check_train()},
    # crafted inputs
    {"name": "long_png_dataset", "fast": True, "baseline": "clean_folder_dataset", "build": _long_png_dataset,
     "check": _check_report(NUM_GOOD, skipped=["long.png"], words=[("long.png", "max_aspect_ratio")])},
    {"name": "huge_header_dataset", "fast": True, "baseline": "clean_folder_dataset", "build": _huge_header_dataset,
     "check": _check_report(NUM_GOOD, skipped=["huge.png"], words=[("huge.png", "max_image_pixels")])},
    {"name": "zip_bomb_dataset", "fast": True, "baseline": "clean_zip_dataset",
     "build": lambda tmp: (_dataset_argv(good_zip(tmp / "images.zip", bomb=True), tmp), {}),
     "check": _check_report(NUM_GOOD, skipped=["zeros.png"], words=[("zeros.png", "max_member_bytes")])},
    {"name": "symlinks_dataset", "fast": True, "baseline": "clean_folder_dataset",
     "build": lambda tmp: (_dataset_argv(links_folder(tmp), tmp), {}),
     "check": _check_report(NUM_GOOD, left_out=["ext", "loop"])},
    {"name": "crafted_folder_train", "fast": False, "baseline": "clean_folder_train",
     "build": lambda tmp: _train_folder_with(tmp, _CRAFTED, "--config.data.skip_bad_images=True"),
     "check": _check_train(skipped_words=["huge.png", "long.png"])},
    {"name": "crafted_folder_train_noskip", "fast": False, "baseline": "clean_folder_train",
     "build": lambda tmp: _train_folder_with(tmp, {"huge.png": _CRAFTED["huge.png"]}),
     "check": _check_train(returncode=1, error_words=["huge.png: bad image", "data.max_image_pixels"])},
    {"name": "symlinks_train", "fast": False, "baseline": "clean_folder_train",
     "build": lambda tmp: (_train_argv(tmp, "folder", links_folder(tmp), "--config.data.skip_bad_images=True"), {}),
     "check": _check_train()},
    {"name": "malformed_tfrecord_train", "fast": False, "baseline": "clean_tfrecord_train",
     "build": lambda tmp: (_train_argv(tmp, "tfrecord", tfrecord_shards(tmp / "shards", malformed=True),
                                       "--config.data.skip_bad_images=True"), {}),
     "check": _check_train(skipped_words=["[record 3]", "[record 7]"])},
]


def all_scenarios():
    """This module's scenarios plus `bad_inputs_export.SCENARIOS` when that module exists."""
    scenarios = list(SCENARIOS)
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
    try:
        import bad_inputs_export  # pylint: disable=import-outside-toplevel
    except ModuleNotFoundError as e:
        if e.name != "bad_inputs_export":
            raise
    else:
        scenarios += list(bad_inputs_export.SCENARIOS)
    names = [s["name"] for s in scenarios]
    if len(set(names)) != len(names):
        raise ValueError(f"scenario names repeat: {names}")
    return {s["name"]: s for s in scenarios}


# ------------------------------------------------------------------------------------------------
# Running one scenario


def run_scenario(scenario, tmp, mem_limit_bytes, timeout=900, code=REPO):
    """Builds and runs `scenario` in `tmp` with the cips_tf of checkout `code` (its working directory:
    `python -m` puts it first on the path);
    returns (ok, why, peak RSS in bytes, seconds)."""
    tmp = pathlib.Path(tmp)
    tmp.mkdir(parents=True, exist_ok=True)
    argv, extra_env = scenario["build"](tmp)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="",
               PYTHONPATH=str(code) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.update(extra_env)

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (mem_limit_bytes, mem_limit_bytes))

    start = time.time()
    with open(tmp / "output.txt", "wb") as out:
        proc = subprocess.Popen([PY, *argv], cwd=code, env=env, stdout=out, stderr=subprocess.STDOUT,
                                preexec_fn=limit, start_new_session=True)
        status = usage = None
        while time.time() - start < timeout:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            time.sleep(0.2)
        else:  # a hang guard: kill the run's whole process group
            os.killpg(proc.pid, signal.SIGKILL)
            _, status, usage = os.wait4(proc.pid, 0)
            return False, f"timeout after {timeout}s", usage.ru_maxrss * 1024, time.time() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    output = (tmp / "output.txt").read_text(errors="replace")
    ok, why = scenario["check"](proc.returncode, output, tmp)
    return bool(ok), why, usage.ru_maxrss * 1024, time.time() - start


def main():
    scenarios = all_scenarios()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scenarios", default="", help="comma-separated names (default: all)")
    parser.add_argument("--fast", action="store_true", help="only the fast scenarios (and their baselines)")
    parser.add_argument("--mem_limit_gb", type=float, default=8.0, help="RLIMIT_AS of each run (address space)")
    parser.add_argument("--work", default="/tmp/cips_bad_inputs")
    parser.add_argument("--no_baselines", action="store_true", help="do not add the baselines of the scenarios named")
    parser.add_argument("--code", default=str(REPO), help="checkout whose cips_tf runs (e.g. the code before a fix)")
    args = parser.parse_args()
    names = [s for s in args.scenarios.split(",") if s] or [n for n, s in scenarios.items() if s["fast"] or not args.fast]
    unknown = [n for n in names if n not in scenarios]
    if unknown:
        parser.error(f"unknown scenarios {unknown}; choose from {', '.join(scenarios)}")
    for name in list(names):  # each baseline runs first
        base = scenarios[name].get("baseline")
        if base and base not in names and not args.no_baselines:
            names.insert(0, base)
    names.sort(key=lambda n: scenarios[n].get("baseline") is not None)
    import importlib.util  # noqa: E402  (the harness itself never imports TensorFlow)

    if importlib.util.find_spec("tensorflow") is None:
        sys.exit(f"{PY} has no tensorflow: run this with the project's venv (source .venv/bin/activate)")
    work = pathlib.Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    limit = int(args.mem_limit_gb * 2**30)
    rows, start = {}, time.time()
    for name in names:
        passed, peaks = 0, []
        for i in range(args.runs):
            run_dir = work / name / str(i)
            try:
                ok, why, peak, seconds = run_scenario(scenarios[name], run_dir, limit, code=args.code)
            except Exception as e:  # noqa: BLE001 - a crash of the harness is a failed run
                ok, why, peak, seconds = False, f"{type(e).__name__}: {e}", 0, 0.0
            passed += ok
            peaks.append(peak)
            print(f"[{time.time() - start:6.0f}s] {name} run {i + 1}/{args.runs}: {'PASS' if ok else 'FAIL'} "
                  f"({seconds:.0f}s, peak {peak / 2**20:.0f} MiB) {why}", flush=True)
            shutil.rmtree(run_dir, ignore_errors=True)
        rows[name] = (args.runs, passed, max(peaks))
    print()
    print(f"| {'input':<30} | runs | passed | peak MiB | clean peak MiB | ratio |")
    print(f"|{'-' * 32}|------|--------|----------|----------------|-------|")
    accepted = True
    for name in names:
        runs, passed, peak = rows[name]
        base = scenarios[name].get("baseline")
        base = base if base in rows else None
        ratio = peak / rows[base][2] if base and rows[base][2] else None
        accepted &= passed == runs and (ratio is None or ratio <= ACCEPTED_RATIO)
        base_text = f"{rows[base][2] / 2**20:.0f} ({base})" if base else "-"
        print(f"| {name:<30} | {runs:>4} | {passed:>6} | {peak / 2**20:>8.0f} | {base_text:>14} | "
              f"{f'{ratio:.2f}' if ratio else '-':>5} |")
    print(f"\naddress-space limit per run: {args.mem_limit_gb:g} GiB; acceptance: every run passes, crafted peaks "
          f"within {ACCEPTED_RATIO}x of their clean baseline: {'MET' if accepted else 'NOT MET'}")
    return 0 if accepted else 1


if __name__ == "__main__":
    sys.exit(main())
