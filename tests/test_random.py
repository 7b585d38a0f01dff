"""minicnn.random: the counter-based device generator against SplitMix64 computed with Python ints,
its distributions, and get_state / set_state through a safetensors checkpoint."""
import math

import numpy as np
import pytest

import minicnn as mc
from minicnn import backend
from minicnn import random as mc_random
from minicnn.random import CounterGenerator

MASK = 2 ** 64 - 1


def splitmix64(seed, count):
    """Vigna's sequential SplitMix64 on Python ints: the state steps by gamma, each step is mixed."""
    state, words = seed, []
    for _ in range(count):
        state = (state + 0x9E3779B97F4A7C15) & MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        words.append(z ^ (z >> 31))
    return words


def host(array):
    return backend.to_device(array, "cpu")


def test_the_reference_is_splitmix64():
    # The published first outputs of SplitMix64 seeded with 0 (Vigna's splitmix64.c).
    assert splitmix64(0, 3) == [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F]


@pytest.mark.parametrize("seed", [0, 1, 12345, 2 ** 64 - 1])
def test_uniforms_are_the_top_bits_of_splitmix64_words(xp, seed):
    g = CounterGenerator(seed, xp=xp)
    first, second = host(g.random(7)), host(g.random((2, 4), np.float32))     # 7 words, then 8 more
    words = splitmix64(seed, 15)
    np.testing.assert_array_equal(first, [(w >> 11) * 2.0 ** -53 for w in words[:7]])
    np.testing.assert_array_equal(second.ravel(), np.array([(w >> 40) * 2.0 ** -24 for w in words[7:]], np.float32))
    assert first.dtype == np.float64 and second.dtype == np.float32 and second.shape == (2, 4)
    assert g.state == {"seed": seed, "offset": 15}


@pytest.mark.parametrize("dtype, bits, tolerance", [(np.float64, 53, 1e-12), (np.float32, 24, 1e-5)])
@pytest.mark.parametrize("n", [6, 7])
def test_normals_are_box_muller_of_those_uniforms(xp, n, dtype, bits, tolerance):
    g = CounterGenerator(99, xp=xp)
    z = host(g.standard_normal((n,), dtype))
    pairs = (n + 1) // 2
    u = [(w >> (64 - bits)) * 2.0 ** -bits for w in splitmix64(99, 2 * pairs)]
    radius = [math.sqrt(-2 * math.log(1 - u1)) for u1 in u[:pairs]]
    angle = [2 * math.pi * u2 for u2 in u[pairs:]]
    want = [r * math.cos(t) for r, t in zip(radius, angle)] + [r * math.sin(t) for r, t in zip(radius, angle)]
    assert z.dtype == dtype
    np.testing.assert_allclose(z, want[:n], rtol=tolerance, atol=tolerance)
    assert g.state["offset"] == 2 * pairs


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_uniform_moments(xp, dtype):
    u = host(CounterGenerator(7, xp=xp).random(10 ** 6, dtype))
    assert u.dtype == dtype and u.min() >= 0 and u.max() < 1
    assert abs(u.mean() - 0.5) < 0.002 and abs(u.var() - 1 / 12) < 0.001           # ~7 standard errors
    assert abs(np.histogram(u, bins=10, range=(0, 1))[0] / 1e5 - 1).max() < 0.02   # flat, decile by decile


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_normal_moments(xp, dtype):
    z = host(CounterGenerator(8, xp=xp).standard_normal((1000, 1000), dtype)).astype(np.float64).ravel()
    assert abs(z.mean()) < 0.005 and abs(z.var() - 1) < 0.01
    standard = (z - z.mean()) / z.std()
    assert abs((standard ** 3).mean()) < 0.02 and abs((standard ** 4).mean() - 3) < 0.05
    assert abs(np.corrcoef(z[:500000], z[500000:])[0, 1]) < 0.01                 # the cos and sin halves


def test_bad_dtype_and_state_are_refused():
    g = CounterGenerator(0)
    with pytest.raises(ValueError, match="CounterGenerator.random: dtype must be float32 or float64, got int32"):
        g.random(3, np.int32)
    with pytest.raises(ValueError, match=r"CounterGenerator.state: expected \{'seed': int, 'offset': int\}"):
        g.state = {"seed": 1, "offset": -1}
    with pytest.raises(ValueError, match=r"set_state: expected the dict of minicnn.random.get_state\(\), with keys "
                                         r"\['cpu', 'device'\], got keys \['cpu'\]"):
        mc_random.set_state({"cpu": mc_random.get_state()["cpu"]})


def test_a_refused_state_changes_nothing():
    mc.manual_seed(4)
    before = mc_random.get_state()
    with pytest.raises(ValueError):
        mc_random.set_state({"cpu": {"bit_generator": "PCG64", "state": {"state": 1, "inc": 3},
                                     "has_uint32": 0, "uinteger": 0}, "device": {"seed": 1}})
    assert mc_random.get_state() == before


def draws(xp):
    """A few numbers from both streams: the CPU one as creation ops draw, the device one for xp's arrays."""
    return (mc_random.generator().random(3), host(mc_random.generator(xp).random((2, 2), np.float32)),
            host(mc_random.generator(xp).standard_normal(5)))


def test_set_state_repeats_the_draws_that_followed_get_state(xp):
    mc.manual_seed(11)
    draws(xp)
    state = mc_random.get_state()
    first = draws(xp)
    mc_random.set_state(state)
    for got, want in zip(draws(xp), first):
        np.testing.assert_array_equal(got, want)


def test_a_state_saved_in_a_checkpoint_resumes_the_streams_exactly(xp, tmp_path):
    mc.manual_seed(5)
    draws(xp)
    straight = [draws(xp) for _ in range(2)]

    mc.manual_seed(5)
    draws(xp)
    mc.save({"rng": mc_random.get_state()}, tmp_path / "rng.safetensors")
    mc.manual_seed(6)                                   # a new process would start anywhere
    draws(xp)
    state = mc.load(tmp_path / "rng.safetensors")["rng"]
    assert state["device"] == {"seed": 5, "offset": 0 if xp is np else 10}    # 4 + 2 * 3 words for 5 normals
    mc_random.set_state(state)
    resumed = [draws(xp) for _ in range(2)]
    for got, want in zip(resumed, straight):
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)


def test_set_state_puts_back_the_device_stream_and_manual_seed_restarts_it():
    state = mc_random.get_state()
    state["device"] = {"seed": 2 ** 64 - 1, "offset": 12}
    mc_random.set_state(state)
    assert mc_random.get_state()["device"] == {"seed": 2 ** 64 - 1, "offset": 12}
    mc.manual_seed(2 ** 64 + 3)                           # the device stream takes the seed modulo 2^64
    assert mc_random.get_state()["device"] == {"seed": 3, "offset": 0}
