#include "facelens/gaze.hpp"

#include <algorithm>
#include <cmath>

namespace facelens {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kDeg = 180.0 / kPi;

// Confidence model (documented in the README): eyelid gap relative to eye width (closed ~0.05, open ~0.3),
// interpupillary distance in pixels, and how far the face turns away from the camera.
constexpr double kOpenLow = 0.08, kOpenHigh = 0.20;
constexpr double kIodLow = 10.0, kIodHigh = 40.0;
constexpr double kTurnFull = 40.0, kTurnZero = 75.0;

double clamp01(double v) { return v < 0 ? 0 : (v > 1 ? 1 : v); }

struct V3 {
  double x, y, z;
};

V3 rotate(const float* r, V3 v) {
  return {r[0] * v.x + r[1] * v.y + r[2] * v.z, r[3] * v.x + r[4] * v.y + r[5] * v.z,
          r[6] * v.x + r[7] * v.y + r[8] * v.z};
}
V3 rotate_t(const float* r, V3 v) {  // R^T v
  return {r[0] * v.x + r[3] * v.y + r[6] * v.z, r[1] * v.x + r[4] * v.y + r[7] * v.z,
          r[2] * v.x + r[5] * v.y + r[8] * v.z};
}
double dist2d(const float* p, int a, int b) {
  return std::hypot(double(p[3 * a]) - p[3 * b], double(p[3 * a + 1]) - p[3 * b + 1]);
}
// Direction (pointing out of the eye) from yaw/pitch in degrees, and back.
V3 from_angles(double yaw_deg, double pitch_deg) {
  double y = yaw_deg / kDeg, p = pitch_deg / kDeg;
  return {-std::sin(y) * std::cos(p), -std::sin(p), -std::cos(y) * std::cos(p)};
}
void to_angles(V3 g, double& yaw_deg, double& pitch_deg) {
  yaw_deg = std::atan2(-g.x, -g.z) * kDeg;
  pitch_deg = std::atan2(-g.y, std::hypot(g.x, g.z)) * kDeg;
}

}  // namespace

bool eye_direction(const GazeInput& in, GazeResult& out) {
  if (!in.points || !in.rotation || !in.translation || !in.eyeballs) return false;
  if (!(in.scale > 0.f) || !(in.radius > 0.f) || !std::isfinite(in.scale)) return false;
  for (const auto& e : in.eyes) {
    int hi = std::max(std::max(std::max(e.iris, e.outer), std::max(e.inner, e.upper)), e.lower);
    int lo = std::min(std::min(std::min(e.iris, e.outer), std::min(e.inner, e.upper)), e.lower);
    if (lo < 0 || static_cast<std::size_t>(hi) >= in.n_points) return false;
  }
  const float* p = in.points;
  const float* R = in.rotation;
  const float* t = in.translation;

  V3 sum{0, 0, 0};
  double wsum = 0, open_best = 0;
  V3 dirs[2];
  double weights[2];
  for (int k = 0; k < 2; ++k) {
    const EyeLandmarks& e = in.eyes[k];
    V3 c = rotate(R, {in.eyeballs[3 * k], in.eyeballs[3 * k + 1], in.eyeballs[3 * k + 2]});
    double cx = in.scale * c.x + t[0], cy = in.scale * c.y + t[1];
    double r = double(in.scale) * in.radius;
    double vx = (p[3 * e.iris] - cx) / r, vy = (p[3 * e.iris + 1] - cy) / r;
    if (!std::isfinite(vx) || !std::isfinite(vy)) return false;
    double n = std::hypot(vx, vy);
    if (n > 0.98) {  // the iris cannot sit outside the eyeball's silhouette; keep the direction
      vx *= 0.98 / n;
      vy *= 0.98 / n;
    }
    dirs[k] = {vx, vy, -std::sqrt(std::max(0.0, 1.0 - vx * vx - vy * vy))};
    double width = dist2d(p, e.outer, e.inner);
    double gap = dist2d(p, e.upper, e.lower);
    double open = clamp01((gap / std::max(width, 1e-6) - kOpenLow) / (kOpenHigh - kOpenLow));
    open_best = std::max(open_best, open);
    // A foreshortened or closing eye locates its iris worse.
    weights[k] = width * (0.05 + open);
    wsum += weights[k];
  }
  for (int k = 0; k < 2; ++k) {
    double w = weights[k] / wsum;
    sum.x += w * dirs[k].x;
    sum.y += w * dirs[k].y;
    sum.z += w * dirs[k].z;
  }
  // Eye-in-head angles of the geometric estimate.
  double geo_yaw, geo_pitch;
  to_angles(rotate_t(R, sum), geo_yaw, geo_pitch);
  double wp = clamp01(in.prior_weight);
  double head_yaw = (1 - wp) * geo_yaw + wp * in.prior_yaw;
  double head_pitch = (1 - wp) * (geo_pitch - in.geo_pitch_offset) + wp * in.prior_pitch;
  V3 g = rotate(R, from_angles(head_yaw, head_pitch));
  double yaw, pitch;
  to_angles(g, yaw, pitch);

  // Confidence.
  double iod = std::hypot(double(p[3 * in.eyes[0].iris]) - p[3 * in.eyes[1].iris],
                          double(p[3 * in.eyes[0].iris + 1]) - p[3 * in.eyes[1].iris + 1]);
  double size = clamp01((iod - kIodLow) / (kIodHigh - kIodLow));
  V3 normal = rotate(R, {0, 0, -1});  // the face's forward direction in the camera frame
  double turn = std::acos(std::max(-1.0, std::min(1.0, -normal.z))) * kDeg;
  double turn_f = clamp01((kTurnZero - turn) / (kTurnZero - kTurnFull));
  double conf = 100.0 * open_best * size * turn_f * clamp01(in.presence);

  out.yaw = static_cast<float>(yaw);
  out.pitch = static_cast<float>(pitch);
  out.confidence = static_cast<float>(conf);
  out.eye_in_head_yaw = static_cast<float>(geo_yaw);
  out.eye_in_head_pitch = static_cast<float>(geo_pitch);
  out.openness = static_cast<float>(open_best);
  return true;
}

}  // namespace facelens
