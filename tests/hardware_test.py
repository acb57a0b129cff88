"""cips_tf.hardware: native bf16 detection and the "auto" compute policy."""
import pytest

from cips_tf import hardware


def test_cpu_bf16_support_avx512_bf16_or_amx_is_native():
    assert hardware.cpu_bf16_support({"avx2", "avx512f", "avx512_bf16"}, environ={})[0]
    assert hardware.cpu_bf16_support({"avx512f", "amx_bf16", "amx_tile"}, environ={})[0]


def test_cpu_bf16_support_avx2_only_is_not_native():
    native, reason = hardware.cpu_bf16_support({"avx2", "fma"}, environ={})
    assert not native and "no native bf16" in reason


@pytest.mark.parametrize("cap, native", [("AVX2", False), ("sse41", False), ("AVX512_CORE", False),
                                         ("AVX512_CORE_BF16", True), ("AVX512_CORE_AMX", True), ("ALL", True),
                                         ("", True)])
def test_cpu_bf16_support_honours_onednn_isa_cap(cap, native):
    got, reason = hardware.cpu_bf16_support({"avx512_bf16", "amx_bf16"}, environ={"ONEDNN_MAX_CPU_ISA": cap})
    assert got == native
    if not native:
        assert f"ONEDNN_MAX_CPU_ISA={cap.upper()}" in reason


def test_resolve_mixed_precision_auto_and_explicit():
    assert hardware.resolve_mixed_precision("auto", {"avx512_bf16"}, {})[0] == "mixed_bfloat16"
    assert hardware.resolve_mixed_precision("auto", {"avx2"}, {})[0] == "float32"
    assert hardware.resolve_mixed_precision("auto", {"avx512_bf16"}, {"ONEDNN_MAX_CPU_ISA": "AVX2"})[0] == "float32"
    assert hardware.resolve_mixed_precision("auto", gpu=(True, "GPU 8.0"))[0] == "mixed_bfloat16"
    assert hardware.resolve_mixed_precision("mixed_float16", {"avx2"}, {}) == ("mixed_float16", "set in the config")
    assert hardware.resolve_mixed_precision(None)[0] == "float32"


def test_cpu_flags_reads_the_flags_line(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512_bf16\n\nprocessor\t: 1\nflags\t\t: fpu\n")
    assert hardware.cpu_flags(str(info)) == {"fpu", "sse", "avx2", "avx512_bf16"}
    assert hardware.cpu_flags(str(tmp_path / "missing")) == set()
