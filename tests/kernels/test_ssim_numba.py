"""The numba backend's parallel split: rows cut into tasks, results independent of the thread count.

Every option and dtype against the reference is covered by the backend-parametrized tests in test_ssim.py.
"""

import pytest
import torch

pytest.importorskip("numba")
import numba  # noqa: E402

from pixsift.kernels.ssim.config import make_config  # noqa: E402
from pixsift.kernels.ssim.numba_kernel import ROWS_PER_TASK, ssim_numba  # noqa: E402
from pixsift.kernels.ssim.reference import ssim_reference  # noqa: E402


def _pair(shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, shape, generator=g, dtype=torch.uint8)
    noise = torch.randint(-40, 41, shape, generator=g)
    return x, (x.int() + noise).clamp(0, 255).to(torch.uint8)


@pytest.mark.parametrize("padding", ["valid", "reflect", "zeros"])
@pytest.mark.parametrize("gray", [False, True])
def test_many_row_tasks_match_reference(padding, gray):
    x, y = _pair((1, 3 if gray else 1, 300, 257))
    cfg = make_config(x, None, "gaussian", 11, 1.5, padding, "population", gray, "none")
    assert cfg.out_size(300, 257)[0] > 4 * ROWS_PER_TASK  # several tasks, the last one partial
    means, ssim_map = ssim_numba(x, y, cfg)
    ref_means, ref_map = ssim_reference(x, y, cfg)
    torch.testing.assert_close(ssim_map, ref_map, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(means, ref_means, rtol=1e-5, atol=0)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="numba has a single thread here")
def test_result_does_not_depend_on_thread_count():
    x, y = _pair((2, 1, 300, 257), seed=1)
    cfg = make_config(x, None, "uniform", 7, 1.5, "reflect", "sample", False, "none")
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one_thread = ssim_numba(x, y, cfg)
        numba.set_num_threads(2)
        two_threads = ssim_numba(x, y, cfg)
    finally:
        numba.set_num_threads(before)
    assert torch.equal(one_thread[0], two_threads[0])
    assert torch.equal(one_thread[1], two_threads[1])


@pytest.mark.parametrize(("win_size", "covariance"), [(7, "sample"), (15, "population")])
def test_exact_integer_path_over_many_row_tasks_matches_reference(win_size, covariance):
    # uint8, uniform window, no padding: integer running sums (int32 to 13 x 13 windows, int64 past it)
    x, y = _pair((2, 1, 300, 131), seed=2)
    cfg = make_config(x, None, "uniform", win_size, 1.5, "valid", covariance, False, "none")
    assert cfg.out_size(300, 131)[0] > 4 * ROWS_PER_TASK
    means, ssim_map = ssim_numba(x, y, cfg)
    ref_means, ref_map = ssim_reference(x, y, cfg)
    torch.testing.assert_close(ssim_map, ref_map, rtol=0, atol=1e-6)
    torch.testing.assert_close(means, ref_means, rtol=0, atol=1e-7)


@pytest.mark.parametrize("window", ["uniform", "gaussian"])
def test_serial_equals_parallel(window):
    x, y = _pair((2, 1, 200, 97), seed=3)
    parallel = make_config(x, None, window, 7, 1.5, "valid", "sample", False, "none")
    serial = make_config(x, None, window, 7, 1.5, "valid", "sample", False, "none", serial=True)
    for got, expected in zip(ssim_numba(x, y, serial), ssim_numba(x, y, parallel), strict=True):
        assert torch.equal(got, expected)
