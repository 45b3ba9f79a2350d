"""Batch-size schedulers and sampling intervals against the rules of the INT and NINT releases (docs/methods.md)."""
import math

import pytest

from samplers.schedules import batch_ratio, batch_size, interval_period, should_reselect

S = 5000


def test_constant():
    assert batch_ratio("constant", 1234, S, 0.2) == 0.2


@pytest.mark.parametrize("step", [0, 1000, 2500, 4999])
def test_linear(step):
    assert batch_ratio("linear", step, S, 0.2) == pytest.approx(0.2 + step / S * 0.8)


@pytest.mark.parametrize("step,expected", [(0, 0.2), (499, 0.2), (500, 0.28), (2600, 0.2 + 5 * 0.08), (4999, 0.2 + 9 * 0.08)])
def test_step(step, expected):
    assert batch_ratio("step", step, S, 0.2) == pytest.approx(expected)


def test_cosine_endpoints():
    assert batch_ratio("cosine", 0, S, 0.2) == pytest.approx(0.2)
    assert batch_ratio("cosine", S, S, 0.2) == pytest.approx(1.0)
    assert batch_ratio("cosine", S // 2, S, 0.2) == pytest.approx(0.6)


def test_batch_size_is_int_of_ratio_times_n():
    assert batch_size("constant", 0, S, 0.2, 1000) == 200
    assert batch_size("constant", 0, S, 0.2, 3) == 1  # never zero


def test_dense_and_dense2():
    assert all(should_reselect("dense", s, S) for s in range(20))
    assert [s for s in range(10) if should_reselect("dense2", s, S, dense2_period=2)] == [0, 2, 4, 6, 8]
    assert [s for s in range(16) if should_reselect("dense2", s, S, dense2_period=5)] == [0, 5, 10, 15]


# Re-selection counts of the INT and NINT releases (their interval rules, counted over S steps).
RELEASE_SELECTIONS = {5000: {"dense": 5000, "dense2": 1000, "incremental": 1422, "decremental": 2157},
                      1000: {"dense": 1000, "dense2": 200, "incremental": 285, "decremental": 432}}


@pytest.mark.parametrize("total", [5000, 1000])
@pytest.mark.parametrize("interval", ["dense", "dense2", "incremental", "decremental"])
def test_interval_counts_match_the_releases(total, interval):
    count = sum(should_reselect(interval, s, total, dense2_period=5) for s in range(total))
    assert count == RELEASE_SELECTIONS[total][interval]


def test_incremental_periods_grow_10_to_50():
    periods = sorted({interval_period("incremental", s, S) for s in range(S // 4, S)})
    assert periods == [10, 20, 30, 40, 50]


def test_decremental_stages():
    head = 3 * S // 4  # 3750, five stages of 750
    assert interval_period("decremental", 0, S) == 40
    assert interval_period("decremental", 749, S) == 40
    assert interval_period("decremental", 750, S) == 30
    assert interval_period("decremental", 1500, S) == 20
    assert interval_period("decremental", 2250, S) == 10
    assert interval_period("decremental", 3000, S) == 1
    assert interval_period("decremental", head, S) == 1
    assert interval_period("decremental", 4999, S) == 1


def test_void_never_reselects():
    assert not any(should_reselect("void", s, S) for s in range(10))


def test_unknown_names_raise():
    with pytest.raises(ValueError, match="valid"):
        batch_ratio("exp", 0, S, 0.2)
    with pytest.raises(ValueError, match="valid"):
        interval_period("sparse", 0, S)
