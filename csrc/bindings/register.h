// The functions module.cpp calls to add each op family to reid_fast._C, one per file of
// csrc/bindings.
#pragma once

#include <pybind11/pybind11.h>

namespace reid_fast {

void register_runtime_info(pybind11::module_& m);  // runtime_info.cpp
void register_distance(pybind11::module_& m);      // distance.cpp
void register_knn_select(pybind11::module_& m);    // knn_select.cpp
void register_topk_rows(pybind11::module_& m);     // topk_rows.cpp
void register_rerank(pybind11::module_& m);        // rerank.cpp
void register_jaccard(pybind11::module_& m);       // jaccard.cpp
void register_ranking(pybind11::module_& m);       // ranking.cpp

}  // namespace reid_fast
