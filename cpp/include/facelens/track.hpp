// Multi-object tracker for video person tracking (stable Person.Index).
//
// SORT-style: one constant-velocity Kalman filter per track, detections
// associated to the predicted tracks by IoU with an optimal assignment, then a
// second chance by normalised centre distance for fast movers.
//
// Kalman state, four independent (position, velocity) pairs:
//   cx, cy          box centre (input units, e.g. px), velocities in units/s;
//   log w, log h    log box size (size stays > 0, growth is relative), 1/s.
// Because the dimensions are independent every covariance is a 2x2 block, so
// the filter is a few scalar formulas (see track.cpp) that the Python
// reference in tests/test_core_track.py reproduces operation by operation.
// Noise is relative to the track's box height h = exp(log h): measurement std
// kMeasPos * h on the centre, kMeasLogW / kMeasLogH on the log sizes; process
// noise is white acceleration, std kAccelPos * h (units/s^2) and kAccelLog
// (1/s^2), discretised with the real time step dt (Q = q [dt^4/4, dt^3/2;
// dt^3/2, dt^2]).
//
// One update(frame):
//  1. every track is predicted by dt_s; tracks not matched for more than
//     max_age_s (+1 us for accumulated rounding) are deleted;
//  2. detections with x2 <= x1 or y2 <= y1 are ignored (index -1, NaN box);
//  3. IoU stage, all live tracks x all usable detections: cost
//     1 - IoU(predicted, detection); pairs with IoU < iou_threshold (or
//     IoU == 0) are gated out. The bipartite graph of allowed pairs is split
//     into connected components and each one is solved exactly (shortest
//     augmenting path Hungarian, rectangular) with a gated pair costing as
//     much as no match, i.e. the sum of the matched IoUs is maximised;
//  4. second chance (center_threshold > 0): unmatched tracks x unmatched
//     detections, cost = |centre(det) - centre(pred)| / h(pred), allowed when
//     < center_threshold and the heights are within a factor kSizeRatio,
//     solved the same way;
//  5. matched tracks are corrected; unmatched tentative tracks are deleted;
//     each unmatched detection with score >= new_track_score starts a
//     tentative track;
//  6. a track is confirmed once it has min_hits associated frames (its birth
//     counts), or at birth when it is born in the first min_hits - 1 updates
//     since construction / reset (people already in the first frames). Newly
//     confirmed tracks take indexes 0, 1, 2, ... in detection order; an index
//     is never reused (until reset()).
#pragma once

#include <cstdint>
#include <vector>

namespace facelens {

struct TrackerParams {
  double iou_threshold = 0.3;     // stage-1 gate, in (0, 1]
  double max_age_s = 1.0;         // seconds a track survives unmatched, >= 0
  int64_t min_hits = 2;           // associated frames before confirmation, >= 1
  double center_threshold = 0.6;  // stage-2 gate in box heights; 0 disables stage 2
  double new_track_score = 0.0;   // detections below this only extend tracks
};

// Filter constants (documented above).
constexpr double kMeasPos = 0.05;
constexpr double kMeasLogW = 0.10;
constexpr double kMeasLogH = 0.05;
constexpr double kAccelPos = 1.0;
constexpr double kAccelLog = 0.5;
constexpr double kInitVelPos = 1.0;  // initial velocity std, h/s
constexpr double kInitVelLog = 0.5;  // 1/s
constexpr double kSizeRatio = 1.5;
constexpr double kAgeSlack_s = 1e-6;

struct TrackState {
  double x[4];     // cx, cy, log w, log h
  double v[4];     // their velocities (per second)
  double p[4][3];  // per dimension covariance (p00, p01, p11)
  int64_t index;   // -1 while tentative
  int64_t hits;    // associated frames, birth included
  double since_update_s;
};

// Rectangular linear assignment (minimum total cost, every row matched when
// rows <= cols, else every column). cost: [rows, cols] row-major, finite.
// Writes row_to_col[rows] (-1 for an unassigned row). Shortest augmenting
// path with potentials; ties are resolved by the lowest column index found
// first. Exposed for the tests of track.cpp.
void linear_assignment(const double* cost, int64_t rows, int64_t cols, int64_t* row_to_col);

class Tracker {
 public:
  // Throws std::invalid_argument on out-of-range parameters.
  explicit Tracker(const TrackerParams& params = TrackerParams());

  // boxes: [n, 4] (x1, y1, x2, y2), finite; scores: [n], finite; dt_s: finite,
  // >= 0, seconds since the previous update (ignored for the first one).
  // out_index: [n] confirmed index of each detection's track, -1 when the
  // track is tentative or the detection was ignored. out_boxes (optional,
  // [n, 4]): the track's corrected box, NaN for ignored detections.
  // Throws std::invalid_argument on bad input (state left untouched).
  void update(const float* boxes, const float* scores, int64_t n, double dt_s, int64_t* out_index,
              float* out_boxes);

  void reset();

  const TrackerParams& params() const { return params_; }
  int64_t tracks_confirmed() const { return next_index_; }  // indexes issued so far
  int64_t frame_count() const { return frame_count_; }
  double time_s() const { return time_s_; }
  const std::vector<TrackState>& tracks() const { return tracks_; }  // live, in creation order

  // Box (x1, y1, x2, y2) of a state.
  static void box_of(const TrackState& t, double out[4]);

 private:
  TrackerParams params_;
  std::vector<TrackState> tracks_;
  int64_t next_index_ = 0;
  int64_t frame_count_ = 0;
  double time_s_ = 0.0;
};

}  // namespace facelens
