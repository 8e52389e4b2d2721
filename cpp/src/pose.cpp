#include "facelens/pose.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

namespace facelens {
namespace {

// Cyclic Jacobi eigen-decomposition of a symmetric 4x4 matrix (destroys a).
// Eigenvalues in d, eigenvectors in the columns of v.
void jacobi4(double a[4][4], double v[4][4], double d[4]) {
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) v[i][j] = i == j ? 1.0 : 0.0;
  double norm = 0.0;
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) norm += a[i][j] * a[i][j];
  for (int sweep = 0; sweep < 64; ++sweep) {
    double off = 0.0;
    for (int p = 0; p < 4; ++p)
      for (int q = p + 1; q < 4; ++q) off += a[p][q] * a[p][q];
    if (off <= 1e-30 * norm || off == 0.0) break;
    for (int p = 0; p < 4; ++p) {
      for (int q = p + 1; q < 4; ++q) {
        const double apq = a[p][q];
        if (apq == 0.0) continue;
        const double theta = (a[q][q] - a[p][p]) / (2.0 * apq);
        double t;
        if (std::fabs(theta) > 1e150)
          t = 0.5 / theta;
        else
          t = (theta >= 0 ? 1.0 : -1.0) / (std::fabs(theta) + std::sqrt(theta * theta + 1.0));
        const double c = 1.0 / std::sqrt(t * t + 1.0);
        const double s = t * c;
        for (int k = 0; k < 4; ++k) {  // A <- A J
          const double akp = a[k][p], akq = a[k][q];
          a[k][p] = c * akp - s * akq;
          a[k][q] = s * akp + c * akq;
        }
        for (int k = 0; k < 4; ++k) {  // A <- J^T A
          const double apk = a[p][k], aqk = a[q][k];
          a[p][k] = c * apk - s * aqk;
          a[q][k] = s * apk + c * aqk;
        }
        for (int k = 0; k < 4; ++k) {  // V <- V J
          const double vkp = v[k][p], vkq = v[k][q];
          v[k][p] = c * vkp - s * vkq;
          v[k][q] = s * vkp + c * vkq;
        }
      }
    }
  }
  for (int i = 0; i < 4; ++i) d[i] = a[i][i];
}

}  // namespace

Similarity umeyama(const float* points, const float* reference, const float* weights, int64_t n) {
  if (n < 3) throw std::invalid_argument("head_pose needs at least 3 points, got " + std::to_string(n));
  double wsum = 0.0;
  double mp[3] = {0, 0, 0}, mr[3] = {0, 0, 0};
  for (int64_t i = 0; i < n; ++i) {
    const double w = weights ? static_cast<double>(weights[i]) : 1.0;
    if (!std::isfinite(w) || w < 0.0) throw std::invalid_argument("weights must be finite and >= 0");
    for (int a = 0; a < 3; ++a) {
      const double p = points[3 * i + a], r = reference[3 * i + a];
      if (!std::isfinite(p) || !std::isfinite(r))
        throw std::invalid_argument("points and reference must be finite");
      mp[a] += w * p;
      mr[a] += w * r;
    }
    wsum += w;
  }
  if (!(wsum > 0.0)) throw std::invalid_argument("weights sum to zero");
  for (int a = 0; a < 3; ++a) {
    mp[a] /= wsum;
    mr[a] /= wsum;
  }
  // S[a][b] = sum w (r - mr)_a (p - mp)_b ; var_r = sum w |r - mr|^2
  double S[3][3] = {{0, 0, 0}, {0, 0, 0}, {0, 0, 0}};
  double var_r = 0.0, scale_r = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double w = weights ? static_cast<double>(weights[i]) : 1.0;
    double rc[3], pc[3];
    for (int a = 0; a < 3; ++a) {
      rc[a] = reference[3 * i + a] - mr[a];
      pc[a] = points[3 * i + a] - mp[a];
      scale_r += w * reference[3 * i + a] * reference[3 * i + a];
    }
    for (int a = 0; a < 3; ++a) {
      var_r += w * rc[a] * rc[a];
      for (int b = 0; b < 3; ++b) S[a][b] += w * rc[a] * pc[b];
    }
  }
  if (!(var_r > 1e-20 * (scale_r + 1e-300)))
    throw std::invalid_argument("reference points are degenerate (all identical)");

  // Horn's symmetric 4x4 matrix; its top eigenvector is the unit quaternion
  // (w, x, y, z) of the rotation taking reference onto points.
  const double Sxx = S[0][0], Sxy = S[0][1], Sxz = S[0][2];
  const double Syx = S[1][0], Syy = S[1][1], Syz = S[1][2];
  const double Szx = S[2][0], Szy = S[2][1], Szz = S[2][2];
  double N[4][4] = {
      {Sxx + Syy + Szz, Syz - Szy, Szx - Sxz, Sxy - Syx},
      {Syz - Szy, Sxx - Syy - Szz, Sxy + Syx, Szx + Sxz},
      {Szx - Sxz, Sxy + Syx, -Sxx + Syy - Szz, Syz + Szy},
      {Sxy - Syx, Szx + Sxz, Syz + Szy, -Sxx - Syy + Szz},
  };
  double V[4][4], d[4];
  jacobi4(N, V, d);
  int best = 0;
  for (int i = 1; i < 4; ++i)
    if (d[i] > d[best]) best = i;
  double qw = V[0][best], qx = V[1][best], qy = V[2][best], qz = V[3][best];
  const double qn = std::sqrt(qw * qw + qx * qx + qy * qy + qz * qz);
  qw /= qn;
  qx /= qn;
  qy /= qn;
  qz /= qn;

  Similarity out;
  double* R = out.R;
  R[0] = qw * qw + qx * qx - qy * qy - qz * qz;
  R[1] = 2.0 * (qx * qy - qw * qz);
  R[2] = 2.0 * (qx * qz + qw * qy);
  R[3] = 2.0 * (qx * qy + qw * qz);
  R[4] = qw * qw - qx * qx + qy * qy - qz * qz;
  R[5] = 2.0 * (qy * qz - qw * qx);
  R[6] = 2.0 * (qx * qz - qw * qy);
  R[7] = 2.0 * (qy * qz + qw * qx);
  R[8] = qw * qw - qx * qx - qy * qy + qz * qz;
  // Optimal scale: sum w p'.(R r') / sum w |r'|^2 (= lambda_max / var_r).
  double num = 0.0;
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) num += R[3 * b + a] * S[a][b];
  out.scale = num > 0.0 ? num / var_r : 0.0;
  for (int a = 0; a < 3; ++a)
    out.t[a] = mp[a] - out.scale * (R[3 * a] * mr[0] + R[3 * a + 1] * mr[1] + R[3 * a + 2] * mr[2]);
  return out;
}

Euler rotation_to_euler(const double R[9]) {
  constexpr double kDeg = 57.295779513082320876798154814105;
  // R = Ry(yaw) Rx(pitch) Rz(roll):
  //   R[1][2] = -sin(pitch), R[1][0] = cos(p) sin(r), R[1][1] = cos(p) cos(r)
  //   R[0][2] = sin(y) cos(p), R[2][2] = cos(y) cos(p)
  const double cp = std::sqrt(R[3] * R[3] + R[4] * R[4]);
  Euler e;
  e.pitch = std::atan2(-R[5], cp) * kDeg;
  if (cp > 1e-6) {
    e.yaw = std::atan2(R[2], R[8]) * kDeg;
    e.roll = std::atan2(R[3], R[4]) * kDeg;
  } else {  // gimbal lock: only yaw -/+ roll is defined; report it as yaw
    e.yaw = std::atan2(-R[6], R[0]) * kDeg;
    e.roll = 0.0;
  }
  return e;
}

}  // namespace facelens
