// One function per domain adds that domain's functions and classes to facelens._core (module.cpp calls them).
#pragma once

#include <pybind11/pybind11.h>

namespace facelens_py {

void bind_dispatch(pybind11::module_& m);   // SIMD level: query and force
void bind_detection(pybind11::module_& m);  // letterbox, CenterFace decoding, NMS, largest faces
void bind_geometry(pybind11::module_& m);   // affine warps, head pose, eye direction
void bind_quality(pybind11::module_& m);    // brightness and sharpness of a face crop
void bind_search(pybind11::module_& m);     // top-k search of a face-vector matrix
void bind_tracking(pybind11::module_& m);   // linear assignment and the video face tracker

}  // namespace facelens_py
