// Similarity alignment (head pose) and Euler angles.
#pragma once

#include <cstdint>

namespace facelens {

struct Similarity {
  double R[9];  // row-major proper rotation (det = +1)
  double scale;
  double t[3];
};

// Weighted Umeyama / Horn: minimises sum_i w_i ||p_i - (s R r_i + t)||^2 over
// s >= 0, R in SO(3), t. points, reference: [n, 3]; weights: [n] or nullptr
// (all ones). Solved with Horn's quaternion method (4x4 symmetric Jacobi
// eigen-solve, double precision), so R is always a proper rotation.
// Throws std::invalid_argument if n < 3, inputs are not finite, a weight is
// negative, the weights sum to 0, or the reference points are all identical.
Similarity umeyama(const float* points, const float* reference, const float* weights, int64_t n);

struct Euler {
  double yaw, pitch, roll;  // degrees
};

// R = Ry(yaw) @ Rx(pitch) @ Rz(roll) (right-handed elementary rotations),
// pitch in [-90, 90]. At gimbal lock (|pitch| = 90) roll is set to 0.
Euler rotation_to_euler(const double R[9]);

}  // namespace facelens
