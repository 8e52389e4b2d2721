"""The in-memory side of a collection: its descriptors as one contiguous float32 matrix, searched by the C++
core (``_core.search_topk``, SIMD L2 distances with top-k selection, GIL released).

The matrix grows by doubling; rows are only ever appended, so a search can run on a snapshot (the matrix
object and a row count) while another thread appends. Deletions rebuild the index from SQLite.
"""

from __future__ import annotations

import threading
from typing import Iterable, List, Optional, Tuple

import numpy as np

from .. import _core

DIM = 128


def vector_blob(vector: np.ndarray) -> bytes:
    """A descriptor as stored in SQLite: DIM little-endian float32."""
    return np.ascontiguousarray(vector, dtype="<f4").reshape(DIM).tobytes()


def vectors_from_blobs(blobs: Iterable[bytes]) -> np.ndarray:
    """float32 [n, DIM] from stored descriptors (``vector_blob``)."""
    blobs = list(blobs)
    return np.frombuffer(b"".join(blobs), dtype="<f4").astype(np.float32).reshape(len(blobs), DIM)


class VectorIndex:
    def __init__(self, rid: int, name: str = "") -> None:
        self.rid = rid
        self.name = name
        self.version = -1  # the collection's change counter this index reflects
        self.purge = -1  # its deletion counter
        self.last_seq = 0  # highest faces.seq loaded
        self.lock = threading.Lock()  # held while refreshing
        # (matrix, face ids, rows in use), replaced as one object so that readers see a consistent state
        self._state: Tuple[np.ndarray, List[str], int] = (np.zeros((16, DIM), np.float32), [], 0)

    def __len__(self) -> int:
        return self._state[2]

    def reset(self, face_ids: List[str], vectors: np.ndarray, last_seq: int) -> None:
        """Replaces the content (a new matrix, so running searches keep their snapshot)."""
        n = len(face_ids)
        matrix = np.empty((max(16, n), DIM), np.float32)
        matrix[:n] = vectors
        self._state = (matrix, list(face_ids), n)
        self.last_seq = last_seq

    def append(self, face_ids: List[str], vectors: np.ndarray, last_seq: int) -> None:
        k = len(face_ids)
        if k == 0:
            return
        matrix, ids, n = self._state
        if n + k > len(matrix):
            grown = np.empty((max(2 * len(matrix), n + k), DIM), np.float32)
            grown[:n] = matrix[:n]
            matrix = grown
        matrix[n:n + k] = vectors  # rows beyond n: no reader looks at them yet
        ids.extend(face_ids)  # the same list: readers index only below their own n
        self._state = (matrix, ids, n + k)
        self.last_seq = last_seq

    def snapshot(self) -> Tuple[np.ndarray, List[str]]:
        matrix, ids, n = self._state
        return matrix[:n], ids

    def search(self, query: np.ndarray, k: int, max_distance: Optional[float] = None) -> List[Tuple[str, float]]:
        """Up to k (FaceId, distance) pairs, nearest first, at most ``max_distance`` away."""
        matrix, ids = self.snapshot()
        if len(matrix) == 0 or k <= 0:
            return []
        idx, dist = _core.search_topk(matrix, np.ascontiguousarray(query, np.float32), int(k), "l2", max_distance)
        return [(ids[i], float(d)) for i, d in zip(idx.tolist(), dist.tolist())]
