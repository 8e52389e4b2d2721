// Conversions from Python objects to the core's inputs, shared by the bindings of every domain. They check what
// only the binding can see (types, dtypes, shapes, lengths); the values themselves are checked by the core, whose
// std::invalid_argument pybind11 raises as ValueError.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>

#include "facelens/image.hpp"

namespace facelens_py {

namespace py = pybind11;

using F32Array = py::array_t<float, py::array::c_style | py::array::forcecast>;
using F64Array = py::array_t<double, py::array::c_style | py::array::forcecast>;

[[noreturn]] void fail(const std::string& msg);

// "(2, 3)"-style shape of an array, for messages.
std::string shape_str(const py::array& a);

// uint8 [H, W, 3] image. Arrays with pixel stride 3 and channel stride 1 are used in place (any positive row
// stride, e.g. crops); others are copied into *keep, which must outlive the returned view.
facelens::ImageU8 as_image(const py::handle& obj, py::array* keep, const char* name = "image");

// A C-contiguous float32 view of ``obj`` (None, or anything numpy cannot convert: ValueError naming ``name``).
F32Array as_f32(const py::handle& obj, const char* name);

// A float64 view of ``obj`` (None or anything numpy cannot convert: ValueError ``message``).
F64Array as_f64(const py::handle& obj, const std::string& message);

// ValueError unless ``a`` has the given shape (-1: any length on that axis); ``expected`` is shown in the message.
void check_shape(const py::array& a, const char* name, std::initializer_list<py::ssize_t> shape,
                 const char* expected);

// Boxes [N, 4] (x1, y1, x2, y2) and their scores [N], as float32 views.
std::pair<F32Array, F32Array> as_boxes_scores(const py::handle& boxes, const py::handle& scores);

// Three finite numbers (one number broadcast to three): the per-channel mean and scale of the normalisations.
std::array<float, 3> as_channel_triple(const py::handle& obj, const char* name);

// Output sizes of the image kernels, checked before the output is allocated: each side in [1, 65536] and at most
// 4096 x 4096 pixels in all.
void check_out_size(int out_w, int out_h);

// A [2, 3] affine matrix.
std::array<float, 6> as_affine(const py::handle& obj);

}  // namespace facelens_py
