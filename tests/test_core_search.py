"""search_topk (the collection search kernel) against numpy, at every SIMD level."""
import threading

import numpy as np
import pytest

import facelens._core as core


def ref_search(matrix, query, k, metric="l2", bound=None):
    """float64 scores; order by (score, index) like the kernel."""
    m = np.asarray(matrix, np.float64)
    q = np.asarray(query, np.float64)
    if metric == "l2":
        score = np.sqrt(((m - q) ** 2).sum(1))
        keep = np.ones(len(m), bool) if bound is None else score <= bound
        order = np.lexsort((np.arange(len(m)), score))
    else:
        score = m @ q
        keep = np.ones(len(m), bool) if bound is None else score >= bound
        order = np.lexsort((np.arange(len(m)), -score))
    order = order[keep[order]][:k]
    return order, score[order]


def unit_rows(n, d=128, seed=0):
    rng = np.random.default_rng(seed)
    m = rng.standard_normal((n, d)).astype(np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def assert_same_result(got, want, rtol=2e-5):
    gi, gs = got
    wi, ws = want
    assert gi.dtype == np.int64 and gs.dtype == np.float32
    assert gi.shape == wi.shape
    np.testing.assert_allclose(gs, ws, rtol=rtol, atol=1e-5)
    # indices agree except where two scores are within rounding of each other
    differ = gi != wi
    if differ.any():
        gap = np.abs(np.diff(ws)).min() if len(ws) > 1 else 0
        assert gap < 1e-4, (gi[differ], wi[differ])


@pytest.mark.parametrize("n", [0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 100, 2047, 2048, 2049, 5000])
@pytest.mark.parametrize("metric", ["l2", "dot"])
def test_matches_numpy(level, n, metric):
    m = unit_rows(n, seed=n)
    q = unit_rows(1, seed=1000 + n)[0]
    for k in (1, 5, 64, n + 3):
        assert_same_result(core.search_topk(m, q, k, metric), ref_search(m, q, k, metric))


@pytest.mark.parametrize("d", [1, 2, 7, 8, 15, 16, 17, 31, 33, 128, 129, 512])
def test_any_dimension(level, d):
    rng = np.random.default_rng(d)
    m = rng.standard_normal((301, d)).astype(np.float32)
    q = rng.standard_normal(d).astype(np.float32)
    for metric in ("l2", "dot"):
        assert_same_result(core.search_topk(m, q, 20, metric), ref_search(m, q, 20, metric))


def test_exact_match_and_self_is_first(level):
    m = unit_rows(3000, seed=3)
    for r in (0, 1, 1234, 2999):
        idx, dist = core.search_topk(m, m[r], 3)
        assert idx[0] == r and dist[0] == 0.0
        idx, dot = core.search_topk(m, m[r], 1, "dot")
        assert idx[0] == r and abs(dot[0] - 1.0) < 1e-5


def test_bound(level):
    m = unit_rows(4000, seed=4)
    q = unit_rows(1, seed=5)[0]
    for bound in (0.0, 1.2, 1.35, 1.4, 10.0):
        want = ref_search(m, q, 4000, "l2", bound)
        got = core.search_topk(m, q, 4000, "l2", bound)
        assert abs(len(got[0]) - len(want[0])) <= 1  # a row right at the bound may round either way
        n = min(len(got[0]), len(want[0]))
        assert_same_result((got[0][:n], got[1][:n]), (want[0][:n], want[1][:n]))
        assert (got[1] <= bound * (1 + 1e-6)).all()
    for bound in (-1.0, 0.0, 0.1, 0.9):
        got = core.search_topk(m, q, 4000, "dot", bound)
        assert (got[1] >= bound - 1e-6).all()
        assert abs(len(got[0]) - int((m.astype(np.float64) @ q >= bound).sum())) <= 1
    assert core.search_topk(m, q, 10, "l2", -1.0)[0].shape == (0,)


def test_ties_go_to_the_lower_index(level):
    row = unit_rows(1, seed=6)[0]
    m = np.tile(row, (100, 1))
    m[::3] = -row  # far away
    idx, dist = core.search_topk(m, row, 10)
    np.testing.assert_array_equal(idx, [i for i in range(100) if i % 3][:10])
    assert (dist == 0).all()
    idx, _ = core.search_topk(m, row, 10, "dot")
    np.testing.assert_array_equal(idx, [i for i in range(100) if i % 3][:10])


def test_nan_rows_are_skipped(level):
    m = unit_rows(50, seed=7)
    m[[3, 10, 49]] = np.nan
    q = m[0]
    idx, _ = core.search_topk(m, q, 50)
    assert len(idx) == 47 and not {3, 10, 49} & set(idx.tolist())
    idx, _ = core.search_topk(m, q, 50, "dot")
    assert len(idx) == 47


def test_levels_agree(level, at_scalar):
    m = unit_rows(20000, seed=8)
    q = unit_rows(1, seed=9)[0]
    np.testing.assert_allclose(core.search_topk(m, q, 100)[1], at_scalar(core.search_topk, m, q, 100)[1], rtol=1e-5)


def test_layouts_are_converted():
    m = unit_rows(64, seed=10)
    q = m[5]
    want = core.search_topk(m, q, 7)
    for mm in (m.astype(np.float64), np.asfortranarray(m), m.tolist()):
        got = core.search_topk(mm, q, 7)
        np.testing.assert_array_equal(got[0], want[0])
    full = core.search_topk(m, q, 64)[0]
    np.testing.assert_array_equal(core.search_topk(m[:30], q, 7)[0], full[full < 30][:7])


def test_threads_share_the_kernel():
    m = unit_rows(30000, seed=11)
    queries = unit_rows(8, seed=12)
    want = [core.search_topk(m, q, 10) for q in queries]
    got = [None] * len(queries)

    def work(i):
        for _ in range(5):
            got[i] = core.search_topk(m, queries[i], 10)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(queries))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g[0], w[0])


@pytest.mark.parametrize("case", ["k", "metric", "bound", "query_nan", "query_inf", "dims", "ndim", "qndim",
                                  "none", "empty_d"])
def test_bad_inputs(case):
    m = unit_rows(10, seed=13)
    q = m[0].copy()
    args = dict(k=3, metric="l2", bound=None)
    if case == "k":
        args["k"] = -1
    elif case == "metric":
        args["metric"] = "cosine"
    elif case == "bound":
        args["bound"] = float("nan")
    elif case == "query_nan":
        q[4] = np.nan
    elif case == "query_inf":
        q[0] = np.inf
    elif case == "dims":
        q = q[:64]
    elif case == "ndim":
        m = m.reshape(-1)
    elif case == "qndim":
        q = q.reshape(1, -1)
    elif case == "none":
        m = None
    elif case == "empty_d":
        m, q = np.zeros((4, 0), np.float32), np.zeros(0, np.float32)
    with pytest.raises(ValueError):
        core.search_topk(m, q, **args)


def test_empty_and_zero_k():
    m = unit_rows(10, seed=14)
    for mm, k in ((np.zeros((0, 128), np.float32), 5), (m, 0)):
        i, s = core.search_topk(mm, m[0], k)
        assert i.shape == (0,) and s.shape == (0,) and i.dtype == np.int64
