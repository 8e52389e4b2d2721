#include "facelens/quality.hpp"

#include <cmath>
#include <stdexcept>

#include "facelens/preprocess.hpp"
#include "scratch.hpp"

namespace facelens {

FaceQuality face_quality(const ImageU8& img, const float box[4], int size) {
  if (size < 3 || size > 4096) throw std::invalid_argument("size must be in [3, 4096]");
  if (img.data == nullptr || img.width < 1 || img.height < 1)
    throw std::invalid_argument("invalid image");
  for (int i = 0; i < 4; ++i)
    if (std::isnan(box[i])) throw std::invalid_argument("box contains NaN");
  const double W = img.width, H = img.height;
  const double x1 = std::fmin(std::fmax(static_cast<double>(box[0]), 0.0), W);
  const double y1 = std::fmin(std::fmax(static_cast<double>(box[1]), 0.0), H);
  const double x2 = std::fmin(std::fmax(static_cast<double>(box[2]), 0.0), W);
  const double y2 = std::fmin(std::fmax(static_cast<double>(box[3]), 0.0), H);
  if (!(x2 > x1) || !(y2 > y1)) throw std::invalid_argument("box is empty after clipping to the image");
  const int cx0 = static_cast<int>(std::floor(x1));
  const int cy0 = static_cast<int>(std::floor(y1));
  const int cx1 = static_cast<int>(std::ceil(x2));
  const int cy1 = static_cast<int>(std::ceil(y2));
  const int cw = cx1 - cx0, ch = cy1 - cy0;

  const std::ptrdiff_t plane = static_cast<std::ptrdiff_t>(size) * size;
  float* planes = detail::scratch_as<float>(detail::kSlotQualityPlanes, static_cast<size_t>(3 * plane));
  float* dst[3] = {planes, planes + plane, planes + 2 * plane};
  const float mul[3] = {0.299f, 0.587f, 0.114f};  // luma weights folded into the resize
  const float add[3] = {0.f, 0.f, 0.f};
  resize_to_planes(img, cx0, cy0, cw, ch, size, size,
                   cw > size ? ResizeFilter::Area : ResizeFilter::Bilinear,
                   ch > size ? ResizeFilter::Area : ResizeFilter::Bilinear, dst, size, mul, add);
  float* luma = dst[0];
  double sum = 0.0;
  for (std::ptrdiff_t i = 0; i < plane; ++i) {
    luma[i] = (dst[0][i] + dst[1][i]) + dst[2][i];
    sum += luma[i];
  }
  FaceQuality q;
  q.mean_luma = sum / static_cast<double>(plane);
  // Laplacian over the interior; two-pass variance.
  const int n = size - 2;
  double lsum = 0.0;
  for (int y = 1; y <= n; ++y) {
    const float* r = luma + static_cast<std::ptrdiff_t>(y) * size;
    for (int x = 1; x <= n; ++x)
      lsum += static_cast<double>(r[x - size]) + r[x + size] + r[x - 1] + r[x + 1] - 4.0 * r[x];
  }
  const double lmean = lsum / (static_cast<double>(n) * n);
  double acc = 0.0;
  for (int y = 1; y <= n; ++y) {
    const float* r = luma + static_cast<std::ptrdiff_t>(y) * size;
    for (int x = 1; x <= n; ++x) {
      const double l = static_cast<double>(r[x - size]) + r[x + size] + r[x - 1] + r[x + 1] - 4.0 * r[x];
      acc += (l - lmean) * (l - lmean);
    }
  }
  q.laplacian_variance = acc / (static_cast<double>(n) * n);
  return q;
}

}  // namespace facelens
