"""What this machine computes fast: native bf16 on the CPU, and the compute policy "auto" picks.

Pure Python (reads `/proc/cpuinfo` and the environment; imports no TensorFlow), so configs,
validation and entry points may ask before anything is built.

- `cpu_bf16_support()`: why bf16 is (or is not) native here. oneDNN, which runs TensorFlow's CPU
  matmuls and convolutions, uses bf16 dot-product instructions when the CPU has `avx512_bf16`
  (AVX512_CORE_BF16) or AMX tiles (`amx_bf16`); without them bf16 is emulated and slower than
  float32. `ONEDNN_MAX_CPU_ISA` caps the kernels oneDNN may use (e.g. `AVX2` emulates an AVX2-only
  machine), so a cap below AVX512_CORE_BF16 means no native bf16 either.
- `resolve_mixed_precision(policy)`: "auto" -> "mixed_bfloat16" where bf16 is native (a CPU as
  above, or a GPU of compute capability 8.0 or later), else "float32". Other policies pass through.
"""
import os

# oneDNN's ISA names in increasing order (ONEDNN_MAX_CPU_ISA); bf16 dot products start at
# AVX512_CORE_BF16. Names not listed (ALL, DEFAULT, unknown) do not cap.
_ONEDNN_ISAS = ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI",
                "AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX512_CORE_AMX", "AVX512_CORE_AMX_FP16",
                "AVX10_1_512", "AVX10_1_512_AMX", "AVX10_1_512_AMX_FP16")
_BF16_ISA = "AVX512_CORE_BF16"
_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
POLICIES = ("auto", "float32", "mixed_bfloat16", "mixed_float16")


def cpu_flags(cpuinfo="/proc/cpuinfo"):
    """The CPU feature flags of the first processor in `cpuinfo` (an empty set where unreadable)."""
    try:
        with open(cpuinfo) as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def onednn_isa_cap(environ=None):
    """The ISA `ONEDNN_MAX_CPU_ISA` caps oneDNN at (upper case), or None when it does not cap."""
    value = (environ if environ is not None else os.environ).get("ONEDNN_MAX_CPU_ISA", "").strip().upper()
    return value if value in _ONEDNN_ISAS else None


def cpu_bf16_support(flags=None, environ=None):
    """`(native, reason)`: whether oneDNN runs bf16 matmuls natively on this CPU, and why (one line)."""
    flags = cpu_flags() if flags is None else set(flags)
    have = [f for f in _BF16_FLAGS if f in flags]
    if not have:
        return False, "the CPU has no native bf16 (neither avx512_bf16 nor amx_bf16)"
    cap = onednn_isa_cap(environ)
    if cap is not None and _ONEDNN_ISAS.index(cap) < _ONEDNN_ISAS.index(_BF16_ISA):
        return False, f"ONEDNN_MAX_CPU_ISA={cap} keeps oneDNN below {_BF16_ISA} (the CPU has {', '.join(have)})"
    return True, f"the CPU has {', '.join(have)}"


def gpu_bf16_support():
    """`(native, reason)` for the first visible GPU (compute capability >= 8.0), or None without a GPU.

    Imports TensorFlow; call only where it is loaded anyway."""
    import tensorflow as tf  # local: this module is pure Python (see the module docstring)

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return None
    capability = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability")
    if capability and tuple(capability) >= (8, 0):
        return True, f"GPU compute capability {capability[0]}.{capability[1]}"
    return False, f"GPU compute capability {capability} has no fast bf16"


def resolve_mixed_precision(policy, flags=None, environ=None, gpu=None):
    """`(policy, reason)`: "auto" becomes "mixed_bfloat16" where bf16 is native, else "float32".

    `gpu`: the result of `gpu_bf16_support()` (None: no GPU; looked up when "auto" and not given)."""
    policy = policy or "float32"
    if policy != "auto":
        return policy, "set in the config"
    if gpu is None and flags is None and environ is None:
        gpu = gpu_bf16_support()
    native, reason = gpu if gpu is not None else cpu_bf16_support(flags, environ)
    return ("mixed_bfloat16" if native else "float32"), reason
