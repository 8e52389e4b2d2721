// Face crop brightness / sharpness statistics.
#pragma once

#include "facelens/image.hpp"

namespace facelens {

struct FaceQuality {
  double mean_luma;           // [0, 255]
  double laplacian_variance;  // variance of the 4-neighbour Laplacian of the luma
};

// Crops box (x1, y1, x2, y2 in image pixels) clipped to the image, expanded
// to whole pixels [floor(x1), ceil(x2)) x [floor(y1), ceil(y2)), resizes it to
// size x size (per axis: Area when shrinking, Bilinear when enlarging), takes
// luma = 0.299 R + 0.587 G + 0.114 B (float) and returns its mean and the
// population variance of the Laplacian [[0,1,0],[1,-4,1],[0,1,0]] over the
// (size-2)^2 interior pixels. Throws std::invalid_argument if the clipped box
// is empty, not finite, or size < 3.
FaceQuality face_quality(const ImageU8& img, const float box[4], int size);

}  // namespace facelens
