#include "facelens/track.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

// Every formula here is mirrored operation by operation by RefTracker in
// tests/test_core_track.py (double precision, same evaluation order), so the
// indexes agree exactly; keep the two in step.

namespace facelens {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

struct Meas {
  double z[4];  // cx, cy, log w, log h
  double box[4];
  double h;
};

Meas measure(const float* b) {
  Meas m;
  for (int k = 0; k < 4; ++k) m.box[k] = static_cast<double>(b[k]);
  const double w = m.box[2] - m.box[0];
  const double h = m.box[3] - m.box[1];
  m.z[0] = m.box[0] + 0.5 * w;
  m.z[1] = m.box[1] + 0.5 * h;
  m.z[2] = std::log(w);
  m.z[3] = std::log(h);
  m.h = h;
  return m;
}

double iou(const double* a, const double* b) {
  const double iw = std::min(a[2], b[2]) - std::max(a[0], b[0]);
  const double ih = std::min(a[3], b[3]) - std::max(a[1], b[1]);
  if (iw <= 0.0 || ih <= 0.0) return 0.0;
  const double inter = iw * ih;
  const double aa = (a[2] - a[0]) * (a[3] - a[1]);
  const double ba = (b[2] - b[0]) * (b[3] - b[1]);
  return inter / (aa + ba - inter);
}

double meas_var(int d, double h) {
  if (d < 2) {
    const double s = kMeasPos * h;
    return s * s;
  }
  const double s = d == 2 ? kMeasLogW : kMeasLogH;
  return s * s;
}

void kf_init(TrackState& t, const Meas& m) {
  const double h = std::exp(m.z[3]);
  for (int d = 0; d < 4; ++d) {
    t.x[d] = m.z[d];
    t.v[d] = 0.0;
    const double sv = d < 2 ? kInitVelPos * h : kInitVelLog;
    t.p[d][0] = meas_var(d, h);
    t.p[d][1] = 0.0;
    t.p[d][2] = sv * sv;
  }
}

void kf_predict(TrackState& t, double dt) {
  const double h = std::exp(t.x[3]);
  const double dt2 = dt * dt;
  for (int d = 0; d < 4; ++d) {
    const double a = d < 2 ? kAccelPos * h : kAccelLog;
    const double q = a * a;
    const double p00 = t.p[d][0], p01 = t.p[d][1], p11 = t.p[d][2];
    t.x[d] = t.x[d] + t.v[d] * dt;
    t.p[d][0] = p00 + 2.0 * dt * p01 + dt2 * p11 + q * dt2 * dt2 * 0.25;
    t.p[d][1] = p01 + dt * p11 + q * dt2 * dt * 0.5;
    t.p[d][2] = p11 + q * dt2;
  }
  t.since_update_s = t.since_update_s + dt;
}

void kf_update(TrackState& t, const Meas& m) {
  const double h = std::exp(t.x[3]);
  for (int d = 0; d < 4; ++d) {
    const double p00 = t.p[d][0], p01 = t.p[d][1], p11 = t.p[d][2];
    const double s = p00 + meas_var(d, h);
    const double k0 = p00 / s;
    const double k1 = p01 / s;
    const double y = m.z[d] - t.x[d];
    t.x[d] = t.x[d] + k0 * y;
    t.v[d] = t.v[d] + k1 * y;
    t.p[d][0] = (1.0 - k0) * p00;
    t.p[d][1] = (1.0 - k0) * p01;
    t.p[d][2] = p11 - k1 * p01;
  }
}

// Hungarian for rows <= cols on a dense row-major matrix (1-based internally).
void hungarian(const double* a, int64_t n, int64_t m, int64_t* row_to_col) {
  std::vector<double> u(n + 1, 0.0), v(m + 1, 0.0), minv(m + 1);
  std::vector<int64_t> p(m + 1, 0), way(m + 1, 0);
  std::vector<char> used(m + 1);
  for (int64_t i = 1; i <= n; ++i) {
    p[0] = i;
    int64_t j0 = 0;
    std::fill(minv.begin(), minv.end(), kInf);
    std::fill(used.begin(), used.end(), 0);
    do {
      used[j0] = 1;
      const int64_t i0 = p[j0];
      double delta = kInf;
      int64_t j1 = 0;
      const double* row = a + (i0 - 1) * m;
      for (int64_t j = 1; j <= m; ++j) {
        if (used[j]) continue;
        const double cur = row[j - 1] - u[i0] - v[j];
        if (cur < minv[j]) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j] < delta) {
          delta = minv[j];
          j1 = j;
        }
      }
      for (int64_t j = 0; j <= m; ++j) {
        if (used[j]) {
          u[p[j]] = u[p[j]] + delta;
          v[j] = v[j] - delta;
        } else {
          minv[j] = minv[j] - delta;
        }
      }
      j0 = j1;
    } while (p[j0] != 0);
    do {
      const int64_t j1 = way[j0];
      p[j0] = p[j1];
      j0 = j1;
    } while (j0 != 0);
  }
  for (int64_t i = 0; i < n; ++i) row_to_col[i] = -1;
  for (int64_t j = 1; j <= m; ++j)
    if (p[j] != 0) row_to_col[p[j] - 1] = j - 1;
}

struct Edge {
  int64_t r, c;
  double cost;
};

// Optimal assignment restricted to the allowed pairs `edges`: the connected
// components of the bipartite graph they form are solved independently, a pair
// that is not an edge costing `gated` (= the cost of leaving both unmatched).
// Equivalent to the dense formulation of the Python reference.
void assign_gated(const std::vector<Edge>& edges, int64_t rows, int64_t cols, double gated,
                  std::vector<int64_t>& row_to_col) {
  row_to_col.assign(rows, -1);
  // adjacency in CSR form, by row and by column
  std::vector<int64_t> row_start(rows + 1, 0), col_start(cols + 1, 0);
  for (const Edge& e : edges) {
    ++row_start[e.r + 1];
    ++col_start[e.c + 1];
  }
  for (int64_t i = 0; i < rows; ++i) row_start[i + 1] += row_start[i];
  for (int64_t i = 0; i < cols; ++i) col_start[i + 1] += col_start[i];
  std::vector<int64_t> row_edges(edges.size()), col_edges(edges.size());
  {
    std::vector<int64_t> rf(row_start.begin(), row_start.end() - 1), cf(col_start.begin(), col_start.end() - 1);
    for (size_t k = 0; k < edges.size(); ++k) {
      row_edges[rf[edges[k].r]++] = static_cast<int64_t>(k);
      col_edges[cf[edges[k].c]++] = static_cast<int64_t>(k);
    }
  }
  std::vector<char> row_seen(rows, 0), col_seen(cols, 0);
  std::vector<int64_t> comp_rows, comp_cols, stack, sub_match, col_pos(cols, -1);
  std::vector<double> sub;
  for (int64_t r0 = 0; r0 < rows; ++r0) {
    if (row_seen[r0] || row_start[r0] == row_start[r0 + 1]) continue;
    comp_rows.clear();
    comp_cols.clear();
    // stack entries: row r as r, column c as -(c + 1)
    stack.assign(1, r0);
    row_seen[r0] = 1;
    while (!stack.empty()) {
      const int64_t node = stack.back();
      stack.pop_back();
      if (node >= 0) {
        comp_rows.push_back(node);
        for (int64_t k = row_start[node]; k < row_start[node + 1]; ++k) {
          const int64_t c = edges[row_edges[k]].c;
          if (!col_seen[c]) {
            col_seen[c] = 1;
            stack.push_back(-(c + 1));
          }
        }
      } else {
        const int64_t c = -node - 1;
        comp_cols.push_back(c);
        for (int64_t k = col_start[c]; k < col_start[c + 1]; ++k) {
          const int64_t r = edges[col_edges[k]].r;
          if (!row_seen[r]) {
            row_seen[r] = 1;
            stack.push_back(r);
          }
        }
      }
    }
    if (comp_rows.size() == 1 && comp_cols.size() == 1) {
      row_to_col[comp_rows[0]] = comp_cols[0];
      continue;
    }
    std::sort(comp_rows.begin(), comp_rows.end());
    std::sort(comp_cols.begin(), comp_cols.end());
    const int64_t nr = static_cast<int64_t>(comp_rows.size());
    const int64_t nc = static_cast<int64_t>(comp_cols.size());
    for (int64_t j = 0; j < nc; ++j) col_pos[comp_cols[j]] = j;
    const bool transpose = nr > nc;
    const int64_t sr = transpose ? nc : nr, sc = transpose ? nr : nc;
    sub.assign(sr * sc, gated);
    std::vector<char> ok(nr * nc, 0);
    for (int64_t i = 0; i < nr; ++i)
      for (int64_t k = row_start[comp_rows[i]]; k < row_start[comp_rows[i] + 1]; ++k) {
        const Edge& e = edges[row_edges[k]];
        const int64_t j = col_pos[e.c];
        ok[i * nc + j] = 1;
        if (transpose)
          sub[j * sc + i] = e.cost;
        else
          sub[i * sc + j] = e.cost;
      }
    sub_match.resize(sr);
    hungarian(sub.data(), sr, sc, sub_match.data());
    for (int64_t i = 0; i < sr; ++i) {
      if (sub_match[i] < 0) continue;
      const int64_t ri = transpose ? sub_match[i] : i;
      const int64_t cj = transpose ? i : sub_match[i];
      if (ok[ri * nc + cj]) row_to_col[comp_rows[ri]] = comp_cols[cj];
    }
  }
}

[[noreturn]] void bad(const std::string& msg) { throw std::invalid_argument(msg); }

}  // namespace

void linear_assignment(const double* cost, int64_t rows, int64_t cols, int64_t* row_to_col) {
  if (rows < 0 || cols < 0) bad("invalid cost matrix shape");
  for (int64_t i = 0; i < rows * cols; ++i)
    if (!std::isfinite(cost[i])) bad("cost must be finite");
  if (rows <= cols) {
    hungarian(cost, rows, cols, row_to_col);
    return;
  }
  std::vector<double> t(rows * cols);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) t[j * rows + i] = cost[i * cols + j];
  std::vector<int64_t> col_to_row(cols);
  hungarian(t.data(), cols, rows, col_to_row.data());
  for (int64_t i = 0; i < rows; ++i) row_to_col[i] = -1;
  for (int64_t j = 0; j < cols; ++j)
    if (col_to_row[j] >= 0) row_to_col[col_to_row[j]] = j;
}

Tracker::Tracker(const TrackerParams& p) : params_(p) {
  if (!(p.iou_threshold >= 0.0 && p.iou_threshold <= 1.0)) bad("iou_threshold must be in [0, 1]");
  if (!(p.max_age_s >= 0.0) || !std::isfinite(p.max_age_s)) bad("max_age_s must be finite and >= 0");
  if (p.min_hits < 1) bad("min_hits must be >= 1");
  if (!(p.center_threshold >= 0.0) || !std::isfinite(p.center_threshold))
    bad("center_threshold must be finite and >= 0");
  if (std::isnan(p.new_track_score)) bad("new_track_score is NaN");
}

void Tracker::reset() {
  tracks_.clear();
  next_index_ = 0;
  frame_count_ = 0;
  time_s_ = 0.0;
}

void Tracker::box_of(const TrackState& t, double out[4]) {
  const double w = std::exp(t.x[2]);
  const double h = std::exp(t.x[3]);
  out[0] = t.x[0] - 0.5 * w;
  out[1] = t.x[1] - 0.5 * h;
  out[2] = t.x[0] + 0.5 * w;
  out[3] = t.x[1] + 0.5 * h;
}

void Tracker::update(const float* boxes, const float* scores, int64_t n, double dt_s,
                     int64_t* out_index, float* out_boxes) {
  if (n < 0) bad("invalid number of detections");
  if (!std::isfinite(dt_s) || dt_s < 0.0) bad("dt_s must be finite and >= 0, got " + std::to_string(dt_s));
  for (int64_t i = 0; i < 4 * n; ++i)
    if (!std::isfinite(boxes[i])) bad("boxes must be finite");
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(scores[i])) bad("scores must be finite");

  ++frame_count_;
  time_s_ = time_s_ + dt_s;

  // 1. predict, drop tracks unmatched for too long
  {
    size_t w = 0;
    for (size_t i = 0; i < tracks_.size(); ++i) {
      kf_predict(tracks_[i], dt_s);
      if (tracks_[i].since_update_s > params_.max_age_s + kAgeSlack_s) continue;
      if (w != i) tracks_[w] = tracks_[i];
      ++w;
    }
    tracks_.resize(w);
  }
  const int64_t nt = static_cast<int64_t>(tracks_.size());

  // 2. measurements of the usable detections (cols)
  std::vector<Meas> meas;
  std::vector<int64_t> col_det;
  meas.reserve(n);
  col_det.reserve(n);
  for (int64_t j = 0; j < n; ++j) {
    const float* b = boxes + 4 * j;
    if (!(b[2] > b[0] && b[3] > b[1])) continue;
    meas.push_back(measure(b));
    col_det.push_back(j);
  }
  const int64_t nd = static_cast<int64_t>(meas.size());

  std::vector<double> pred(4 * nt);
  for (int64_t t = 0; t < nt; ++t) box_of(tracks_[t], &pred[4 * t]);

  // 3.-4. association stages over the still unmatched tracks / detections
  std::vector<int64_t> track_col(nt, -1), col_track(nd, -1);
  std::vector<int64_t> rt, rc, match, order;
  std::vector<Edge> edges;
  auto stage = [&](bool by_iou) {
    rt.clear();
    rc.clear();
    for (int64_t t = 0; t < nt; ++t)
      if (track_col[t] < 0) rt.push_back(t);
    for (int64_t c = 0; c < nd; ++c)
      if (col_track[c] < 0) rc.push_back(c);
    const int64_t r2 = static_cast<int64_t>(rt.size()), c2 = static_cast<int64_t>(rc.size());
    if (!r2 || !c2) return;
    edges.clear();
    if (by_iou) {
      // Only detections overlapping the track in x can have IoU > 0: sweep the
      // detections sorted by x1 (the allowed pairs are the same as a dense scan).
      order.resize(c2);
      double max_w = 0.0;
      for (int64_t j = 0; j < c2; ++j) {
        order[j] = j;
        max_w = std::max(max_w, meas[rc[j]].box[2] - meas[rc[j]].box[0]);
      }
      std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
        return meas[rc[a]].box[0] < meas[rc[b]].box[0];
      });
      for (int64_t i = 0; i < r2; ++i) {
        const double* pb = &pred[4 * rt[i]];
        const double lo = pb[0] - 2.0 * max_w;
        auto it = std::lower_bound(order.begin(), order.end(), lo,
                                   [&](int64_t a, double x) { return meas[rc[a]].box[0] < x; });
        for (; it != order.end() && meas[rc[*it]].box[0] < pb[2]; ++it) {
          const double v = iou(pb, meas[rc[*it]].box);
          if (v > 0.0 && v >= params_.iou_threshold) edges.push_back({i, *it, 1.0 - v});
        }
      }
    } else {
      for (int64_t i = 0; i < r2; ++i) {
        const TrackState& tr = tracks_[rt[i]];
        const double ph = std::exp(tr.x[3]);
        for (int64_t j = 0; j < c2; ++j) {
          const Meas& m = meas[rc[j]];
          const double dx = m.z[0] - tr.x[0];
          const double dy = m.z[1] - tr.x[1];
          const double d = std::sqrt(dx * dx + dy * dy) / ph;
          const double ratio = m.h / ph;
          if (d < params_.center_threshold && ratio <= kSizeRatio && ratio * kSizeRatio >= 1.0)
            edges.push_back({i, j, d});
        }
      }
    }
    assign_gated(edges, r2, c2, by_iou ? 1.0 : params_.center_threshold, match);
    for (int64_t i = 0; i < r2; ++i)
      if (match[i] >= 0) {
        track_col[rt[i]] = rc[match[i]];
        col_track[rc[match[i]]] = rt[i];
      }
  };
  // (A DeepSORT-like cascade, tracks matched in the previous frame choosing
  // first, gave more ID switches on the synthetic crossing scenes than one
  // global IoU assignment: it ignores the coasting tracks' predictions.)
  stage(true);
  if (params_.center_threshold > 0.0) stage(false);

  // 5. correct / drop / create
  std::vector<TrackState> next;
  next.reserve(nt + nd);
  std::vector<int64_t> col_slot(nd, -1);
  std::vector<char> newborn;
  for (int64_t t = 0; t < nt; ++t) {
    TrackState& tr = tracks_[t];
    if (track_col[t] >= 0) {
      kf_update(tr, meas[track_col[t]]);
      tr.hits = tr.hits + 1;
      tr.since_update_s = 0.0;
      col_slot[track_col[t]] = static_cast<int64_t>(next.size());
      next.push_back(tr);
    } else if (tr.index >= 0) {
      next.push_back(tr);
    }
  }
  newborn.assign(next.size(), 0);
  for (int64_t c = 0; c < nd; ++c) {
    if (col_track[c] >= 0) continue;
    if (!(static_cast<double>(scores[col_det[c]]) >= params_.new_track_score)) continue;
    TrackState tr;
    kf_init(tr, meas[c]);
    tr.index = -1;
    tr.hits = 1;
    tr.since_update_s = 0.0;
    col_slot[c] = static_cast<int64_t>(next.size());
    next.push_back(tr);
    newborn.push_back(1);
  }
  tracks_.swap(next);

  // 6. confirmation (in detection order) and outputs
  const bool warm = frame_count_ < params_.min_hits;
  for (int64_t j = 0; j < n; ++j) out_index[j] = -1;
  if (out_boxes)
    for (int64_t j = 0; j < 4 * n; ++j) out_boxes[j] = std::numeric_limits<float>::quiet_NaN();
  for (int64_t c = 0; c < nd; ++c) {
    const int64_t s = col_slot[c];
    if (s < 0) continue;
    TrackState& tr = tracks_[s];
    if (tr.index < 0 && (tr.hits >= params_.min_hits || (newborn[s] && warm))) tr.index = next_index_++;
    const int64_t j = col_det[c];
    out_index[j] = tr.index;
    if (out_boxes) {
      double b[4];
      box_of(tr, b);
      for (int k = 0; k < 4; ++k) out_boxes[4 * j + k] = static_cast<float>(b[k]);
    }
  }
}

}  // namespace facelens
