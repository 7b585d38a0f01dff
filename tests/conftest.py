"""Shared fixtures: ``xp`` runs a test on NumPy always and on CuPy when a GPU is present;
``fast_path`` runs it on the NumPy reference ops and on the numba kernels."""
import minicnn as mc  # noqa: I001  (before NumPy, so the fast kernels run on every core as in use)
import numpy as np
import pytest

from minicnn import backend, fast


def _cupy_or_skip():
    try:
        return backend._load_cupy()
    except backend.DeviceError as e:
        pytest.skip(f"GPU test skipped: {e}")


@pytest.fixture(params=["numpy", pytest.param("cupy", marks=pytest.mark.gpu)])
def xp(request):
    """The array module under test."""
    return np if request.param == "numpy" else _cupy_or_skip()


@pytest.fixture(params=["numpy", "numba"])
def fast_path(request):
    """Runs a test on the plain NumPy ops and again with the numba kernels of minicnn/fast."""
    if request.param == "numba" and not fast.available():
        pytest.skip("numba test skipped: numba is not installed (pip install -e \".[fast]\")")
    previous = fast.set_enabled(request.param == "numba")
    yield request.param
    fast.set_enabled(previous)


@pytest.fixture(autouse=True)
def default_device_restored():
    """A command run in-process makes its --device the default (cli.use_device); the next test must
    not inherit it."""
    before = backend.get_default_device()
    yield
    backend.set_default_device(before)


@pytest.fixture
def rng():
    # Not 0: gradcheck and compare_with_torch draw the upstream gradient from seed 0, and
    # inputs drawn from the same stream would equal it (which hides batch-norm errors).
    return np.random.default_rng(31415)


@pytest.fixture
def cupy():
    """CuPy itself, for tests that only make sense on a GPU (marked ``gpu`` below)."""
    return _cupy_or_skip()


def pytest_collection_modifyitems(items):
    """A test asking for the ``cupy`` fixture is a GPU test: ``pytest -m gpu`` selects it."""
    for item in items:
        if "cupy" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.gpu)


@pytest.fixture
def lenet_batch():
    """LeNet-5 with a batch of two random images and their labels (the profiler and trace tests)."""
    mc.manual_seed(0)
    model = mc.models.get("lenet5")
    x = mc.tensor(np.random.default_rng(0).standard_normal((2, 1, 32, 32)).astype(np.float32))
    y = mc.tensor(np.array([1, 3]))
    return model, x, y
