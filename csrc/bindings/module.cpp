// PYBIND11_MODULE reid_fast._C: DLPack capsules in, checks, then the CPU or CUDA op. Each op
// family's bindings live in a file of their own (register.h).
#include <pybind11/pybind11.h>

#include "bindings/register.h"
#include "reid_fast/errors.h"

namespace py = pybind11;
using namespace reid_fast;

PYBIND11_MODULE(_C, m) {
  m.doc() = "reid_fast native core (use reid_fast.ops, not this module).";
  py::register_exception<ValueError>(m, "NativeValueError", PyExc_ValueError);
  py::register_exception<TypeError>(m, "NativeTypeError", PyExc_TypeError);

  register_runtime_info(m);
  register_distance(m);
  register_knn_select(m);
  register_topk_rows(m);
  register_rerank(m);
  register_jaccard(m);
  register_ranking(m);
}
