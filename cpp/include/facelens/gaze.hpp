// Eye direction (gaze) from FaceMesh landmarks and the head pose.
//
// Model: each eye is a ball that turns about its centre. The centre is fixed in the head frame (given by the
// caller, from the canonical face), so the head pose places it in the image; the iris centre seen in the
// image then lies `radius` from it, which gives the eye's direction without using the landmark network's
// weak iris depth. Optionally the eye-in-head angles from another estimator (the eye-look blendshapes) are
// blended in before the direction is turned back into the camera frame.
//
// Frames: camera x to image-right, y to image-down, z away from the camera; head frame likewise for a face
// looking into the camera. Output angles follow Rekognition's Pose as facelens defines it: yaw > 0 looks
// toward image-left, pitch > 0 looks up, (0, 0) looks into the camera. Degrees.
#pragma once

#include <cstddef>

namespace facelens {

struct EyeLandmarks {
  int iris, outer, inner, upper, lower;  // indices into the landmark array
};

struct GazeInput {
  const float* points = nullptr;  // [n_points][3] image px, z in px (away from camera)
  std::size_t n_points = 0;
  const float* rotation = nullptr;  // [3][3] row-major, head frame -> camera frame
  float scale = 1.f;                // px per head-frame unit
  const float* translation = nullptr;  // [3] px
  const float* eyeballs = nullptr;     // [2][3] eyeball centres in the head frame
  float radius = 1.2f;                 // eyeball rotation radius, head-frame units
  EyeLandmarks eyes[2] = {{468, 33, 133, 159, 145}, {473, 263, 362, 386, 374}};
  float presence = 1.f;  // probability that the landmarks belong to a face (0..1)
  // Subtracted from the geometric eye-in-head pitch: where the iris rests, relative to the eye corners, when the
  // eye looks straight ahead (fitted on data, see tools/calibrate_gaze.py). Degrees.
  float geo_pitch_offset = 0.f;
  // Optional second estimate of the eye-in-head angles (degrees, same signs) and its weight in 0..1.
  float prior_yaw = 0.f, prior_pitch = 0.f, prior_weight = 0.f;
};

struct GazeResult {
  float yaw = 0.f, pitch = 0.f;  // camera frame, degrees
  float confidence = 0.f;        // 0..100
  float eye_in_head_yaw = 0.f, eye_in_head_pitch = 0.f;  // geometric estimate alone (no offset), degrees
  float openness = 0.f;  // 0..1 from the eyelid gap
};

// Returns false (and leaves `out` untouched) when the input is unusable (too few points, NaN, scale <= 0).
bool eye_direction(const GazeInput& in, GazeResult& out);

}  // namespace facelens
