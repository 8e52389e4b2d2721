"""engine/parallel.py: per-item runs two at a time give the batched results, on one core too, and survive fork."""

import os
import signal
import time

import numpy as np
import pytest

from facelens.engine.parallel import Occupancy, SlicedSession, SpinWhenAlone
from facelens.models import registry
from tests.support.data import image_bytes

MESH = "face_landmarks_detector.onnx"


@pytest.mark.parametrize("threads", [1, 2])
def test_sliced_runs_equal_one_batched_run(threads):
    batch = np.random.default_rng(7).random((5, 256, 256, 3), dtype=np.float32)
    plain = registry.session(MESH, 2)
    sliced = SlicedSession(MESH, threads)
    assert sliced.workers == min(threads, 2, os.cpu_count() or 1)
    want = plain.run(None, {"image": batch})
    got = sliced.run(None, {"image": batch})
    assert [g.shape for g in got] == [w.shape for w in want]
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


def test_one_item_network_takes_a_batch_through_the_sliced_session(client):
    """The blendshape network takes one face per run; FaceMesh.blendshape_scores hands it several at once."""
    mesh = client.engine.mesh
    points = np.random.default_rng(3).random((3, 478, 3), dtype=np.float32) * 256
    together = mesh.blendshape_scores(points)
    alone = np.concatenate([mesh.blendshape_scores(points[i:i + 1]) for i in range(3)])
    assert together.shape == (3, 52)
    np.testing.assert_array_equal(together, alone)


@pytest.mark.data
@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX fork only")
def test_a_forked_child_can_still_analyse(client):
    """A child forked after the pool ran (gunicorn --preload, multiprocessing's fork) gets a pool of its own;
    the parent's, whose threads the child does not have, would take the crops and never run them."""
    data = image_bytes("images/if_t1.jpg")
    want = len(client.detect_faces(Image={"Bytes": data})["FaceDetails"])
    assert want > 1  # several crops: the sliced path ran in the parent
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit code
        signal.alarm(60)
        try:
            got = len(client.detect_faces(Image={"Bytes": data})["FaceDetails"])
            os._exit(0 if got == want else 3)
        except BaseException:
            os._exit(4)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_map_items_keeps_order_and_runs_at_most_workers_at_once(workers):
    import threading
    import time

    from facelens.engine import parallel

    lock, running, peak = threading.Lock(), [0], [0]

    def work(i):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.01)
        with lock:
            running[0] -= 1
        return i * i

    assert parallel.map_items(work, 7, workers) == [i * i for i in range(7)]
    assert peak[0] <= min(workers, parallel.pool()._max_workers)


class _Recording:
    """A real session that notes each run (which of the two sessions a run went to is the behaviour tested)."""

    def __init__(self, session, log, label):
        self.session, self.log, self.label = session, log, label

    def get_inputs(self):
        return self.session.get_inputs()

    def run(self, names, feeds):
        self.log.append(self.label)
        return self.session.run(names, feeds)


def test_spinning_session_only_while_one_request_runs():
    occupancy = Occupancy()
    wrapper = SpinWhenAlone(MESH, 2, None, None, occupancy)
    spinning, sleeping = (s.get_session_options() for s in (wrapper.spinning, wrapper.sleeping))
    assert spinning.get_session_config_entry("session.intra_op.allow_spinning") == "1"
    assert spinning.get_session_config_entry("session.force_spinning_stop") == "1"
    assert sleeping.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    log = []
    want = wrapper.sleeping.run(None, {"image": np.zeros((1, 256, 256, 3), np.float32)})
    wrapper.spinning = _Recording(wrapper.spinning, log, "spinning")
    wrapper.sleeping = _Recording(wrapper.sleeping, log, "sleeping")
    crop = {"image": np.zeros((1, 256, 256, 3), np.float32)}
    occupancy.hold = 0.2
    with occupancy:
        got = wrapper.run(None, crop)
        with occupancy:
            wrapper.run(None, crop)
        wrapper.run(None, crop)  # alone again, but right after sharing the engine
        time.sleep(0.3)
        wrapper.run(None, crop)
    assert log == ["spinning", "sleeping", "sleeping", "spinning"]
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


def test_one_thread_engine_has_no_spinning_session():
    wrapper = SpinWhenAlone(MESH, 1, None, None, Occupancy())
    assert wrapper.spinning is wrapper.sleeping


@pytest.mark.data
def test_engine_counts_the_requests_it_analyses(client):
    engine = client.engine
    seen = []
    real = engine.detector.detect

    def detect(rgb):
        seen.append(engine.occupancy.alone)
        return real(rgb)

    engine.detector.detect = detect
    try:
        client.detect_faces(Image={"Bytes": image_bytes("images/fr_obama.jpg")})
    finally:
        del engine.detector.detect
    assert seen == [True]
    assert engine.occupancy.alone
