#include <cstring>
#include <mutex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "arrays.hpp"
#include "domains.hpp"
#include "facelens/track.hpp"

namespace facelens_py {
namespace {

// facelens._core.Tracker: the C++ tracker plus the per-detection boxes of the last update. The mutex serialises
// calls from Python threads (update runs without the GIL).
struct PyTracker {
  explicit PyTracker(const facelens::TrackerParams& p) : tracker(p) {}
  facelens::Tracker tracker;
  std::vector<float> last_boxes;
  std::mutex mu;
};

py::array_t<int64_t> linear_assignment(const py::handle& cost) {
  F64Array c = as_f64(cost, "cost must be a [rows, cols] array convertible to float64");
  check_shape(c, "cost", {-1, -1}, "[rows, cols]");
  const int64_t rows = c.shape(0), cols = c.shape(1);
  py::array_t<int64_t> out({static_cast<py::ssize_t>(rows)});
  int64_t* o = out.mutable_data();
  {
    py::gil_scoped_release release;
    facelens::linear_assignment(c.data(), rows, cols, o);
  }
  return out;
}

PyTracker* make_tracker(double iou_threshold, double max_age_s, int64_t min_hits, double center_threshold,
                        double new_track_score) {
  facelens::TrackerParams p;
  p.iou_threshold = iou_threshold;
  p.max_age_s = max_age_s;
  p.min_hits = min_hits;
  p.center_threshold = center_threshold;
  p.new_track_score = new_track_score;
  return new PyTracker(p);
}

py::array_t<int64_t> update(PyTracker& self, const py::handle& boxes, const py::handle& scores, double dt_s) {
  auto [b, s] = as_boxes_scores(boxes, scores);
  const int64_t n = b.shape(0);
  py::array_t<int64_t> out({static_cast<py::ssize_t>(n)});
  int64_t* o = out.mutable_data();
  {
    py::gil_scoped_release release;
    std::vector<float> filtered(static_cast<size_t>(4 * n));
    std::lock_guard<std::mutex> lock(self.mu);
    self.tracker.update(b.data(), s.data(), n, dt_s, o, filtered.data());  // throws before changing anything
    self.last_boxes = std::move(filtered);
  }
  return out;
}

py::array_t<float> filtered_boxes(PyTracker& self) {
  std::lock_guard<std::mutex> lock(self.mu);
  const py::ssize_t n = static_cast<py::ssize_t>(self.last_boxes.size() / 4);
  py::array_t<float> out({n, py::ssize_t{4}});
  if (n) std::memcpy(out.mutable_data(), self.last_boxes.data(), sizeof(float) * 4 * n);
  return out;
}

auto live_tracks(PyTracker& self) {
  std::lock_guard<std::mutex> lock(self.mu);
  const auto& ts = self.tracker.tracks();
  const py::ssize_t n = static_cast<py::ssize_t>(ts.size());
  py::array_t<int64_t> idx({n});
  py::array_t<float> bx({n, py::ssize_t{4}});
  py::array_t<double> age({n});
  for (py::ssize_t i = 0; i < n; ++i) {
    double b4[4];
    facelens::Tracker::box_of(ts[i], b4);
    idx.mutable_data()[i] = ts[i].index;
    for (int k = 0; k < 4; ++k) bx.mutable_data()[4 * i + k] = static_cast<float>(b4[k]);
    age.mutable_data()[i] = ts[i].since_update_s;
  }
  return py::make_tuple(idx, bx, age);
}

std::string repr(PyTracker& self) {
  std::lock_guard<std::mutex> lock(self.mu);
  const auto& p = self.tracker.params();
  std::ostringstream s;
  s << "Tracker(iou_threshold=" << p.iou_threshold << ", max_age_s=" << p.max_age_s << ", min_hits=" << p.min_hits
    << ", center_threshold=" << p.center_threshold << ", new_track_score=" << p.new_track_score
    << "; frames=" << self.tracker.frame_count() << ", live=" << self.tracker.tracks().size()
    << ", confirmed=" << self.tracker.tracks_confirmed() << ")";
  return s.str();
}

}  // namespace

void bind_tracking(py::module_& m) {
  m.def("linear_assignment", &linear_assignment, py::arg("cost"),
        "Minimum-cost rectangular assignment; int64 [rows] column of each row, -1 if unassigned.");

  py::class_<PyTracker>(m, "Tracker")
      .def(py::init(&make_tracker), py::arg("iou_threshold") = 0.3, py::arg("max_age_s") = 1.0,
           py::arg("min_hits") = 2, py::arg("center_threshold") = 0.6, py::arg("new_track_score") = 0.0)
      .def("update", &update, py::arg("boxes"), py::arg("scores"), py::arg("dt_s"))
      .def("filtered_boxes", &filtered_boxes)
      .def("live_tracks", &live_tracks)
      .def("reset",
           [](PyTracker& self) {
             std::lock_guard<std::mutex> lock(self.mu);
             self.tracker.reset();
             self.last_boxes.clear();
           })
      .def_property_readonly("tracks_confirmed",
                             [](PyTracker& self) {
                               std::lock_guard<std::mutex> lock(self.mu);
                               return self.tracker.tracks_confirmed();
                             })
      .def_property_readonly("frame_count",
                             [](PyTracker& self) {
                               std::lock_guard<std::mutex> lock(self.mu);
                               return self.tracker.frame_count();
                             })
      .def_property_readonly("time_s",
                             [](PyTracker& self) {
                               std::lock_guard<std::mutex> lock(self.mu);
                               return self.tracker.time_s();
                             })
      .def_property_readonly("iou_threshold", [](PyTracker& self) { return self.tracker.params().iou_threshold; })
      .def_property_readonly("max_age_s", [](PyTracker& self) { return self.tracker.params().max_age_s; })
      .def_property_readonly("min_hits", [](PyTracker& self) { return self.tracker.params().min_hits; })
      .def_property_readonly("center_threshold",
                             [](PyTracker& self) { return self.tracker.params().center_threshold; })
      .def_property_readonly("new_track_score",
                             [](PyTracker& self) { return self.tracker.params().new_track_score; })
      .def("__repr__", &repr);
}

}  // namespace facelens_py
