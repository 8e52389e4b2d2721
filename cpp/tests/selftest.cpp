// C++ self-test of facelens_core without Python (cmake -DFACELENS_BUILD_TESTS=ON; ctest): known answers at every
// SIMD level this build has and this CPU runs, the SIMD levels against the scalar reference, and errors for bad
// arguments. The Python tests (tests/test_core_*.py) cover the kernels in depth; this one checks a build on a
// machine without Python, e.g. a cross-compiled or sanitizer build.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "facelens/decode.hpp"
#include "facelens/dispatch.hpp"
#include "facelens/nms.hpp"
#include "facelens/preprocess.hpp"
#include "facelens/search.hpp"
#include "facelens/warp.hpp"

namespace {

int failures = 0;

void check(bool ok, const std::string& level, const char* what) {
  if (!ok) {
    std::printf("FAIL [%s] %s\n", level.c_str(), what);
    ++failures;
  }
}

// Deterministic pseudo-random bytes (xorshift32).
std::vector<uint8_t> random_image(int w, int h, uint32_t seed) {
  std::vector<uint8_t> px(static_cast<size_t>(w) * h * 3);
  for (auto& v : px) {
    seed ^= seed << 13;
    seed ^= seed >> 17;
    seed ^= seed << 5;
    v = static_cast<uint8_t>(seed >> 24);
  }
  return px;
}

std::vector<float> letterbox(const std::vector<uint8_t>& px, int w, int h, int ow, int oh) {
  const facelens::ImageU8 img{px.data(), w, h, 3 * static_cast<std::ptrdiff_t>(w)};
  const float mean[3] = {127.5f, 127.5f, 127.5f}, scale[3] = {1 / 128.f, 1 / 128.f, 1 / 128.f};
  std::vector<float> out(static_cast<size_t>(3) * ow * oh);
  facelens::letterbox_nchw(img, ow, oh, mean, scale, false, out.data());
  return out;
}

std::vector<int64_t> nms_of(const std::vector<float>& boxes, const std::vector<float>& scores, float thr) {
  int64_t n = 0;
  const int64_t* keep = facelens::nms(boxes.data(), scores.data(), static_cast<int64_t>(scores.size()), thr, &n);
  return std::vector<int64_t>(keep, keep + n);
}

void known_answers(const std::string& level) {
  // NMS: box 1 overlaps box 0 (IoU 81/119) and is suppressed; box 2 is apart.
  const std::vector<float> boxes = {0, 0, 10, 10, 1, 1, 11, 11, 20, 20, 30, 30};
  check(nms_of(boxes, {0.9f, 0.8f, 0.7f}, 0.5f) == std::vector<int64_t>{0, 2}, level, "nms keeps 0 and 2");
  check(nms_of(boxes, {0.9f, 0.8f, 0.7f}, 0.7f) == std::vector<int64_t>{0, 1, 2}, level, "nms keeps all at 0.7");

  // Letterbox of a constant image: (v - mean) * scale inside, zero padding below.
  const std::vector<uint8_t> grey(static_cast<size_t>(64) * 32 * 3, 200);
  const std::vector<float> lb = letterbox(grey, 64, 32, 32, 32);
  const float inside = (200.f - 127.5f) * (1 / 128.f);
  check(std::fabs(lb[0] - inside) < 1e-6f && std::fabs(lb[15 * 32 + 31] - inside) < 1e-6f, level,
        "letterbox value inside");
  check(lb[16 * 32] == 0.f && lb[3 * 32 * 32 - 1] == 0.f, level, "letterbox padding is zero");

  // Identity warp reproduces the pixels exactly.
  const std::vector<uint8_t> px = random_image(40, 30, 7);
  const facelens::ImageU8 img{px.data(), 40, 30, 120};
  const float M[6] = {1, 0, 0, 0, 1, 0}, zero[3] = {0, 0, 0}, one[3] = {1, 1, 1};
  std::vector<float> warped(static_cast<size_t>(40) * 30 * 3);
  facelens::warp_affine(img, M, 40, 30, zero, one, warped.data());
  bool same = true;
  for (size_t i = 0; i < px.size(); ++i) same = same && warped[i] == static_cast<float>(px[i]);
  check(same, level, "identity warp");

  // Search: the nearest of 1000 rows is the one the query was copied from.
  std::vector<float> matrix(static_cast<size_t>(1000) * 128);
  for (size_t i = 0; i < matrix.size(); ++i) matrix[i] = std::sin(static_cast<float>(i) * 0.37f);
  const std::vector<float> query(matrix.begin() + 417 * 128, matrix.begin() + 418 * 128);
  int64_t index[3];
  float score[3];
  const int64_t got = facelens::search_topk(matrix.data(), 1000, 128, 128, query.data(), 3, facelens::SearchMetric::L2,
                                            INFINITY, index, score);
  check(got == 3 && index[0] == 417 && score[0] == 0.f && score[1] > 0.f, level, "search finds the copied row");
}

void same_as_scalar(const std::string& level) {
  const std::vector<uint8_t> px = random_image(333, 211, 11);
  facelens::set_simd_level("scalar");
  const std::vector<float> ref = letterbox(px, 333, 211, 160, 160);
  facelens::set_simd_level(level);
  const std::vector<float> got = letterbox(px, 333, 211, 160, 160);
  float worst = 0.f;
  for (size_t i = 0; i < ref.size(); ++i) worst = std::fmax(worst, std::fabs(ref[i] - got[i]));
  check(worst < 1e-5f, level, "letterbox within 1e-5 of scalar");
}

void errors() {
  int64_t n = 0;
  const float box[4] = {0, 0, 1, 1}, s = 1.f;
  bool threw = false;
  try {
    facelens::nms(box, &s, 1, NAN, &n);
  } catch (const std::invalid_argument&) {
    threw = true;
  }
  check(threw, "-", "nms rejects a NaN threshold");
  check(!facelens::set_simd_level("bogus"), "-", "unknown level refused");
}

}  // namespace

int main() {
  for (const std::string& level : facelens::supported_levels()) {
    check(facelens::set_simd_level(level), level, "level can be set");
    known_answers(level);
    same_as_scalar(level);
    std::printf("level %s checked\n", level.c_str());
  }
  facelens::set_simd_level("auto");
  errors();
  if (failures) std::printf("%d failure(s)\n", failures);
  return failures ? 1 : 0;
}
