"""The tracker's reference and synthetic scenes, for tests/test_core_track.py and bench/bench_tracker.py.

``RefTracker`` is the scalar reference of cpp/src/track.cpp: the same formulas in the same evaluation order (IEEE
doubles, math.log/exp/sqrt), so the C++ must give exactly the same indexes. ``make_scene`` / ``count_errors`` build
synthetic ground truth and score a tracker against it.
"""

import math

import numpy as np

# ----------------------------------------------------------------- reference
MEAS_POS, MEAS_LOGW, MEAS_LOGH = 0.05, 0.10, 0.05
ACCEL_POS, ACCEL_LOG = 1.0, 0.5
INIT_VEL_POS, INIT_VEL_LOG = 1.0, 0.5
SIZE_RATIO = 1.5
AGE_SLACK_S = 1e-6


def ref_hungarian(a, n, m):
    """Shortest augmenting path Hungarian, n <= m rows/cols, a: list of rows. Returns row -> col."""
    INF = math.inf
    u, v = [0.0] * (n + 1), [0.0] * (m + 1)
    p, way = [0] * (m + 1), [0] * (m + 1)
    for i in range(1, n + 1):
        p[0] = i
        j0 = 0
        minv = [INF] * (m + 1)
        used = [False] * (m + 1)
        while True:
            used[j0] = True
            i0 = p[j0]
            delta, j1 = INF, 0
            row = a[i0 - 1]
            for j in range(1, m + 1):
                if used[j]:
                    continue
                cur = row[j - 1] - u[i0] - v[j]
                if cur < minv[j]:
                    minv[j] = cur
                    way[j] = j0
                if minv[j] < delta:
                    delta = minv[j]
                    j1 = j
            for j in range(m + 1):
                if used[j]:
                    u[p[j]] = u[p[j]] + delta
                    v[j] = v[j] - delta
                else:
                    minv[j] = minv[j] - delta
            j0 = j1
            if p[j0] == 0:
                break
        while True:
            j1 = way[j0]
            p[j0] = p[j1]
            j0 = j1
            if j0 == 0:
                break
    out = [-1] * n
    for j in range(1, m + 1):
        if p[j]:
            out[p[j] - 1] = j - 1
    return out


def ref_linear_assignment(cost):
    cost = [list(map(float, r)) for r in cost]
    rows = len(cost)
    cols = len(cost[0]) if rows else 0
    if rows <= cols:
        return ref_hungarian(cost, rows, cols)
    t = [[cost[i][j] for i in range(rows)] for j in range(cols)]
    out = [-1] * rows
    for j, i in enumerate(ref_hungarian(t, cols, rows)):
        if i >= 0:
            out[i] = j
    return out


def ref_assign_gated(cost, allowed, rows, cols, gated):
    """Connected components of the allowed pairs, each solved with disallowed pairs costing `gated`."""
    row_to_col = [-1] * rows
    row_seen, col_seen = [False] * rows, [False] * cols
    for r0 in range(rows):
        if row_seen[r0]:
            continue
        comp_rows, comp_cols = [], []
        row_seen[r0] = True
        stack = [("r", r0)]
        while stack:
            kind, k = stack.pop()
            if kind == "r":
                comp_rows.append(k)
                for c in range(cols):
                    if allowed[k][c] and not col_seen[c]:
                        col_seen[c] = True
                        stack.append(("c", c))
            else:
                comp_cols.append(k)
                for r in range(rows):
                    if allowed[r][k] and not row_seen[r]:
                        row_seen[r] = True
                        stack.append(("r", r))
        if not comp_cols:
            continue
        if len(comp_rows) == 1 and len(comp_cols) == 1:
            row_to_col[comp_rows[0]] = comp_cols[0]
            continue
        comp_rows.sort()
        comp_cols.sort()
        sub = [[cost[r][c] if allowed[r][c] else gated for c in comp_cols] for r in comp_rows]
        if len(comp_rows) > len(comp_cols):
            subt = [list(col) for col in zip(*sub)]
            for j, i in enumerate(ref_hungarian(subt, len(comp_cols), len(comp_rows))):
                if i >= 0 and allowed[comp_rows[i]][comp_cols[j]]:
                    row_to_col[comp_rows[i]] = comp_cols[j]
        else:
            for i, j in enumerate(ref_hungarian(sub, len(comp_rows), len(comp_cols))):
                if j >= 0 and allowed[comp_rows[i]][comp_cols[j]]:
                    row_to_col[comp_rows[i]] = comp_cols[j]
    return row_to_col


def ref_iou(a, b):
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0.0 or ih <= 0.0:
        return 0.0
    inter = iw * ih
    aa = (a[2] - a[0]) * (a[3] - a[1])
    ba = (b[2] - b[0]) * (b[3] - b[1])
    return inter / (aa + ba - inter)


def meas_var(d, h):
    if d < 2:
        s = MEAS_POS * h
        return s * s
    s = MEAS_LOGW if d == 2 else MEAS_LOGH
    return s * s


class Meas:
    def __init__(self, b):
        self.box = [float(x) for x in b]
        w = self.box[2] - self.box[0]
        h = self.box[3] - self.box[1]
        self.z = [self.box[0] + 0.5 * w, self.box[1] + 0.5 * h, math.log(w), math.log(h)]
        self.h = h


class Track:
    """Constant-velocity Kalman filter on (cx, cy, log w, log h), one 2x2 covariance per dimension."""

    def __init__(self, m):
        h = math.exp(m.z[3])
        self.x = list(m.z)
        self.v = [0.0] * 4
        self.p = []
        for d in range(4):
            sv = INIT_VEL_POS * h if d < 2 else INIT_VEL_LOG
            self.p.append([meas_var(d, h), 0.0, sv * sv])
        self.index = -1
        self.hits = 1
        self.since_update_s = 0.0

    def predict(self, dt):
        h = math.exp(self.x[3])
        dt2 = dt * dt
        for d in range(4):
            a = ACCEL_POS * h if d < 2 else ACCEL_LOG
            q = a * a
            p00, p01, p11 = self.p[d]
            self.x[d] = self.x[d] + self.v[d] * dt
            self.p[d] = [p00 + 2.0 * dt * p01 + dt2 * p11 + q * dt2 * dt2 * 0.25,
                         p01 + dt * p11 + q * dt2 * dt * 0.5,
                         p11 + q * dt2]
        self.since_update_s = self.since_update_s + dt

    def correct(self, m):
        h = math.exp(self.x[3])
        for d in range(4):
            p00, p01, p11 = self.p[d]
            s = p00 + meas_var(d, h)
            k0 = p00 / s
            k1 = p01 / s
            y = m.z[d] - self.x[d]
            self.x[d] = self.x[d] + k0 * y
            self.v[d] = self.v[d] + k1 * y
            self.p[d] = [(1.0 - k0) * p00, (1.0 - k0) * p01, p11 - k1 * p01]

    def box(self):
        w = math.exp(self.x[2])
        h = math.exp(self.x[3])
        return [self.x[0] - 0.5 * w, self.x[1] - 0.5 * h, self.x[0] + 0.5 * w, self.x[1] + 0.5 * h]


class RefTracker:
    def __init__(self, iou_threshold=0.3, max_age_s=1.0, min_hits=2, center_threshold=0.6, new_track_score=0.0):
        self.iou_threshold, self.max_age_s, self.min_hits = iou_threshold, max_age_s, min_hits
        self.center_threshold, self.new_track_score = center_threshold, new_track_score
        self.reset()

    def reset(self):
        self.tracks, self.next_index, self.frame_count, self.time_s = [], 0, 0, 0.0
        self.last_boxes = []

    @property
    def tracks_confirmed(self):
        return self.next_index

    def update(self, boxes, scores, dt_s):
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4).tolist()
        scores = np.asarray(scores, np.float32).reshape(-1).tolist()
        self.frame_count += 1
        self.time_s = self.time_s + dt_s
        for t in self.tracks:  # 1. predict, drop the stale
            t.predict(dt_s)
        self.tracks = [t for t in self.tracks if not t.since_update_s > self.max_age_s + AGE_SLACK_S]
        tracks = self.tracks
        cols = [j for j, b in enumerate(boxes) if b[2] > b[0] and b[3] > b[1]]  # 2. usable detections
        meas = [Meas(boxes[j]) for j in cols]
        nt, nd = len(tracks), len(meas)
        pred = [t.box() for t in tracks]
        track_col, col_track = [-1] * nt, [-1] * nd

        def stage(by_iou):  # 3.-4. one association stage over the unmatched
            rt = [t for t in range(nt) if track_col[t] < 0]
            rc = [c for c in range(nd) if col_track[c] < 0]
            if not rt or not rc:
                return
            cost, allowed = [], []
            for t in rt:
                tr = tracks[t]
                ph = math.exp(tr.x[3])
                crow, arow = [], []
                for c in rc:
                    m = meas[c]
                    if by_iou:
                        v = ref_iou(pred[t], m.box)
                        crow.append(1.0 - v)
                        arow.append(v > 0.0 and v >= self.iou_threshold)
                    else:
                        dx = m.z[0] - tr.x[0]
                        dy = m.z[1] - tr.x[1]
                        d = math.sqrt(dx * dx + dy * dy) / ph
                        ratio = m.h / ph
                        crow.append(d)
                        arow.append(d < self.center_threshold and ratio <= SIZE_RATIO and ratio * SIZE_RATIO >= 1.0)
                cost.append(crow)
                allowed.append(arow)
            gated = 1.0 if by_iou else self.center_threshold
            for i, j in enumerate(ref_assign_gated(cost, allowed, len(rt), len(rc), gated)):
                if j >= 0:
                    track_col[rt[i]], col_track[rc[j]] = rc[j], rt[i]

        stage(True)
        if self.center_threshold > 0.0:
            stage(False)
        nxt, col_slot, newborn = [], [-1] * nd, []  # 5. correct / drop / create
        for t, tr in enumerate(tracks):
            if track_col[t] >= 0:
                tr.correct(meas[track_col[t]])
                tr.hits += 1
                tr.since_update_s = 0.0
                col_slot[track_col[t]] = len(nxt)
                nxt.append(tr)
                newborn.append(False)
            elif tr.index >= 0:
                nxt.append(tr)
                newborn.append(False)
        for c in range(nd):
            if col_track[c] >= 0 or not scores[cols[c]] >= self.new_track_score:
                continue
            col_slot[c] = len(nxt)
            nxt.append(Track(meas[c]))
            newborn.append(True)
        self.tracks = nxt
        warm = self.frame_count < self.min_hits  # 6. confirm in detection order
        out = [-1] * len(boxes)
        self.last_boxes = [[math.nan] * 4 for _ in boxes]
        for c in range(nd):
            s = col_slot[c]
            if s < 0:
                continue
            tr = self.tracks[s]
            if tr.index < 0 and (tr.hits >= self.min_hits or (newborn[s] and warm)):
                tr.index = self.next_index
                self.next_index += 1
            out[cols[c]] = tr.index
            self.last_boxes[cols[c]] = tr.box()
        return np.array(out, np.int64)


# ----------------------------------------------------------- synthetic scenes
def make_scene(kind="easy", seed=0, fps=5.0, n_frames=80, irregular=False, width=1920, height=1080):
    """Synthetic people walking. Returns a list of frames (boxes f32 [N,4], scores f32 [N], gt int [N], dt).

    gt is the person of each detection, -1 for a false positive. kinds:
      easy:     4 people far apart, box noise, 5% random misses.
      medium:   6 people at distinct depths (height from perspective), crossing paths (the farther one
                is not detected while overlapped by more than IoU 0.25, i.e. occluded), people entering
                and leaving, 2-frame dropouts.
      hard:     10 people at random depths (same-depth crossings), fast movers (runners), 10% misses,
                false positives.
      crossing: 2 people of similar size walking through each other head-on.
    """
    rng = np.random.default_rng(seed)
    n_people = {"easy": 4, "medium": 6, "hard": 10, "crossing": 2}[kind]
    T = n_frames
    times = np.cumsum(np.full(T, 1.0 / fps) * (rng.uniform(0.5, 1.6, T) if irregular else 1.0))
    times -= times[0]
    people = []
    for p in range(n_people):
        h = rng.uniform(200, 420)
        speed = rng.uniform(0.4, 0.9) * h  # px/s (about 0.7-1.5 m/s for a 1.7 m person)
        if kind == "hard" and p % 3 == 0:
            speed *= 2.5  # runners
        if kind == "easy":
            y = 450 + p * (height - 450) / (n_people - 1)
            x0, direction = rng.uniform(200, width - 200), rng.choice([-1, 1])
            t0, t1 = 0.0, times[-1] + 1
            speed *= 0.6
        elif kind == "crossing":
            h = 300.0 + 20 * p
            y = 600.0 + 15 * p
            direction = 1 if p == 0 else -1
            x0 = width / 2 - direction * speed * times[-1] / 2
            t0, t1 = 0.0, times[-1] + 1
        else:
            if kind == "medium":  # distinct depths (feet line y, perspective height), alternating directions
                y = 420 + (p + rng.uniform(0.2, 0.8)) * (height - 470) / n_people
                direction = 1 if p % 2 else -1
                h = 0.42 * y
                speed = rng.uniform(0.4, 0.9) * h
            else:
                y = rng.uniform(300, height - 50)
                direction = rng.choice([-1, 1])
            enter = p >= n_people // 2  # the second half walks in from the border later
            t0 = rng.uniform(0, times[-1] / 2) if enter else 0.0
            x0 = (-0.2 * h if direction > 0 else width + 0.2 * h) if enter else rng.uniform(100, width - 100)
            t1 = times[-1] + 1
        people.append(dict(h=h, w=0.42 * h, y=y, x0=x0, vx=direction * speed, vy=rng.normal(0, 0.05) * speed,
                           t0=t0, t1=t1, wob=rng.uniform(0, 6.28)))
    frames = []
    drop_until = {}
    prev_t = 0.0
    for k, t in enumerate(times):
        gt_boxes, ids = [], []
        for i, p in enumerate(people):
            if not p["t0"] <= t < p["t1"]:
                continue
            tt = t - p["t0"]
            cx = p["x0"] + p["vx"] * tt + 0.02 * p["h"] * math.sin(3 * tt + p["wob"])
            cy = p["y"] + p["vy"] * tt - p["h"] / 2
            scale = 1.0 + 0.001 * p["vy"] * tt / p["h"] * 10
            w, h = p["w"] * scale, p["h"] * scale
            box = np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
            if box[2] < 0 or box[0] > width:  # outside the image: left
                continue
            gt_boxes.append(box)
            ids.append(i)
        keep = []
        for a, (box, i) in enumerate(zip(gt_boxes, ids)):
            if kind != "easy":  # occluded by a nearer (lower, i.e. larger y2) person
                occluded = any(ref_iou(box, b2) > 0.25 and b2[3] > box[3] for b2 in gt_boxes)
                if occluded:
                    continue
            miss = {"easy": 0.05, "medium": 0.03, "hard": 0.10, "crossing": 0.0}[kind]
            if drop_until.get(i, -1) >= k:
                continue
            if kind == "medium" and rng.random() < 0.02:
                drop_until[i] = k + 1
                continue
            if rng.random() < miss:
                continue
            keep.append(a)
        boxes, gt = [], []
        for a in keep:
            b = gt_boxes[a]
            h = b[3] - b[1]
            noise = {"easy": 0.02, "medium": 0.03, "hard": 0.04, "crossing": 0.02}[kind]
            boxes.append(b + rng.normal(0, noise * h, 4))
            gt.append(ids[a])
        if kind == "hard":
            for _ in range(rng.poisson(0.5)):
                c = rng.uniform([0, 0], [width, height])
                hh = rng.uniform(100, 300)
                boxes.append(np.array([c[0], c[1], c[0] + 0.4 * hh, c[1] + hh]))
                gt.append(-1)
        order = rng.permutation(len(boxes))
        boxes = np.array(boxes, np.float32).reshape(-1, 4)[order]
        gt = np.array(gt, np.int64)[order]
        scores = rng.uniform(0.5, 1.0, len(boxes)).astype(np.float32)
        frames.append((boxes, scores, gt, float(t - prev_t)))
        prev_t = t
    return frames


def run_tracker(tracker, frames):
    return [tracker.update(b, s, dt) for b, s, _, dt in frames]


def count_errors(frames, outputs, max_gap_s=None):
    """Scores per-detection indexes against the ground truth.

    id_switches: per person, times its index (ignoring -1) differs from its previous index;
    fragmentations: per person, times a detection of it gets -1 after it had an index (tracking interrupted);
    merged: per index, number of distinct people beyond the first that received it;
    fp_indexed: false-positive detections that were given an index;
    unindexed: true detections left at -1 (the tentative frames at each track start included);
    people / indexes: people in the ground truth / indexes issued.
    With max_gap_s, a switch or fragmentation right after the person went undetected for more than
    max_gap_s seconds (longer than the tracker keeps a lost track: only appearance could bridge it) is
    counted in after_gap instead.
    """
    last, seen_at, switches, frags, after_gap, owners = {}, {}, 0, 0, 0, {}
    fp_indexed = unindexed = 0
    t = 0.0
    for (_, _, gt, dt), idx in zip(frames, outputs):
        t += dt
        for g, i in zip(gt.tolist(), idx.tolist()):
            if g < 0:
                fp_indexed += i >= 0
                continue
            excused = max_gap_s is not None and g in seen_at and t - seen_at[g] > max_gap_s + 1e-9
            seen_at[g] = t
            if i < 0:
                unindexed += 1
                if g in last and last[g][1]:
                    if excused:
                        after_gap += 1
                    else:
                        frags += 1
                if g in last:  # remember whether this untracked run began with a long gap
                    last[g] = (last[g][0], False, excused if last[g][1] else last[g][2])
                continue
            if g in last and last[g][0] != i:
                if excused or (max_gap_s is not None and not last[g][1] and last[g][2]):
                    after_gap += 1
                else:
                    switches += 1
            last[g] = (i, True, excused)
            owners.setdefault(i, set()).add(g)
    merged = sum(len(v) - 1 for v in owners.values())
    return dict(id_switches=switches, fragmentations=frags, after_gap=after_gap, merged=merged,
                fp_indexed=fp_indexed, unindexed=unindexed, people=len(seen_at), indexes=len(owners))
