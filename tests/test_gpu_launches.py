"""Kernel launches per training step on the GPU, held to issue 26's budgets (counted on the fake CuPy).

benchmarks/gpu_launches.py counts them; a change that adds launches to a step fails here. On a real
GPU there is no counter, so these run only on the fake (PYTHONPATH=tests/fakecupy pytest -m gpu).
"""
import pytest

from benchmarks.gpu_launches import CASES, PER_LAYER_TARGET, TARGETS, count_step
from minicnn import fused


@pytest.fixture
def fake_cupy(cupy):
    if not hasattr(cupy, "fake"):
        pytest.skip("launches are counted on the fake CuPy only (tests/fakecupy); a real GPU has no counter")
    return cupy


@pytest.mark.parametrize("arch", list(CASES))
def test_a_training_step_stays_within_its_launch_budget(fake_cupy, arch):
    counts = count_step(arch)             # with the fused kernels, whatever MINICNN_FUSED says
    if arch in TARGETS:
        assert counts["train"]["total"] <= TARGETS[arch], counts["train"]
    over = {op: c["per_call"] for op, c in counts["ops"].items() if c["per_call"] > PER_LAYER_TARGET}
    assert not over, f"ops over {PER_LAYER_TARGET} launches per call (forward + backward): {over}"
    assert counts["eval"] <= counts["train"]["forward"]


def test_switching_the_fused_kernels_off_is_the_plain_path_with_its_launches(fake_cupy):
    before = fused.enabled()
    plain = count_step("lenet5", use_fused=False)
    assert fused.enabled() == before                    # count_step puts the switch back
    assert plain["train"]["total"] > 3 * count_step("lenet5")["train"]["total"]
