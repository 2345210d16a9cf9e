"""env.json records what decides float32 bits on a CPU: the CPU model, the
ISA flags, torch's BLAS/oneDNN build and the thread counts (utils/runs.py)."""
import json
import platform

import torch

from utils import runs

CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse2 avx avx2 fma avx512f avx512bw amx_tile amx_int8 avx512_vnni
bogomips\t: 4000.00

processor\t: 1
model name\t: Something Else
flags\t\t: fpu
"""


def test_cpu_model_and_isa_flags_from_cpuinfo(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(CPUINFO)
    rec = runs.cpu_record(str(path))
    assert rec["cpu_model"] == "Intel(R) Xeon(R) Platinum 8480+"  # the first processor's
    assert rec["isa_flags"] == ["avx", "avx2", "fma", "avx512f", "avx512_vnni", "amx_tile",
                                "amx_int8"]
    path.write_text("processor\t: 0\nmodel name\t: AMD EPYC 7763\n"
                    "flags\t\t: avx avx2 fma sse4_2\n")
    rec = runs.cpu_record(str(path))
    assert rec["cpu_model"] == "AMD EPYC 7763" and rec["isa_flags"] == ["avx", "avx2", "fma"]


def test_no_cpuinfo_falls_back_cleanly(tmp_path):
    rec = runs.cpu_record(str(tmp_path / "missing"))
    assert rec["isa_flags"] is None
    assert rec["cpu_model"] == (platform.processor() or platform.machine() or None)


def test_build_and_threads(tmp_path, monkeypatch, one_thread):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    rec = runs.cpu_record(str(tmp_path / "missing"))
    assert rec["torch_threads"] == 1 and rec["omp_num_threads"] == "1"
    assert rec["mkl_num_threads"] is None
    config = torch.__config__.show()
    assert rec["blas"] is None or f"BLAS_INFO={rec['blas']}," in config
    assert rec["mkl"] == torch.backends.mkl.is_available()
    assert rec["mkldnn"] == torch.backends.mkldnn.is_available()
    assert rec["torch_build"] and all(line in config for line in rec["torch_build"])
    if torch.backends.mkldnn.is_available():
        assert any("MKL-DNN" in line or "oneDNN" in line for line in rec["torch_build"])
    torch.set_num_threads(2)
    assert runs.cpu_record()["torch_threads"] == 2


def test_env_json_carries_the_cpu_record():
    env = json.loads(json.dumps(runs.to_jsonable(runs.env_record("cpu", [0, 1]))))
    for key in ("cpu_model", "isa_flags", "cpu_capability", "blas", "mkl", "mkldnn",
                "torch_build", "torch_threads", "omp_num_threads"):
        assert key in env, key
    assert env["seeds"] == [0, 1] and env["torch_threads"] == torch.get_num_threads()
