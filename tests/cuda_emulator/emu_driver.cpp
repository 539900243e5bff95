// Runs reid_fast's CUDA ops (reid_fast::cuda::*, the real kernels and launchers) on the
// emulated machine of reid_emu.h, one case folder after another:
//
//   emu_driver CASE_DIR [CASE_DIR ...]
//
// A case folder holds case.txt and one NAME.bin per input array (raw, C order):
//   op knn                          the op (see run_op)
//   device 1                        the device the arrays live on (default 0)
//   devices 2                       devices of the emulated machine (default 1)
//   driver 12040                    CUDA version its driver supports (default 13000; 0 = none)
//   multiprocessors 4               multiprocessors per device (default 132, an H200)
//   param k 5                       integer / float parameters of the op
//   array x float32 2 70 7          an input: name, dtype, ndim, shape
// The driver writes NAME.out.bin per output, outputs.txt (name, dtype, ndim, shape per line)
// and launches.txt (kernel name and launch count per line). Outputs start filled with 0xFF
// bytes (NaN / -1), so that elements the op does not write are visible. Every buffer is its
// own allocation, so AddressSanitizer reports any access outside it.
//
// Exit status: 0 on success; 3 for an error the emulator found (message on stderr); 4 when the
// op raised; 2 for a malformed case; AddressSanitizer's own status for a memory error.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "cuda_runtime.h"
#include "reid_fast/ops.h"
#include "reid_fast/tensor_view.h"

namespace reid_emu_selftest {
// selftest_kernels.cu: kernels that exercise the emulator itself.
void run(const std::string& which, std::map<std::string, std::vector<int64_t>>& results);
}  // namespace reid_emu_selftest

namespace {

using namespace reid_fast;

[[noreturn]] void bad_case(const std::string& message) {
  std::fprintf(stderr, "emu_driver: %s\n", message.c_str());
  std::exit(2);
}

DType dtype_from(const std::string& name) {
  if (name == "float32") return DType::Float32;
  if (name == "float64") return DType::Float64;
  if (name == "float16") return DType::Float16;
  if (name == "bfloat16") return DType::BFloat16;
  if (name == "int64") return DType::Int64;
  if (name == "uint8") return DType::UInt8;
  bad_case("unknown dtype " + name);
}

struct Buffer {
  DType dtype = DType::Float32;
  std::vector<int64_t> shape;
  void* data = nullptr;
  std::size_t bytes = 0;

  Buffer(DType type, std::vector<int64_t> dims) : dtype(type), shape(std::move(dims)) {
    int64_t count = 1;
    for (int64_t s : shape) count *= s;
    bytes = static_cast<std::size_t>(count) * dtype_size(dtype);
    data = std::malloc(bytes);  // exact size: AddressSanitizer guards both ends
    if (data == nullptr && bytes != 0) bad_case("out of memory");
  }
  ~Buffer() { std::free(data); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  template <typename T>
  T* as() const {
    return static_cast<T*>(data);
  }
  int64_t dim(int i) const { return shape.at(i); }
};

class Case {
 public:
  explicit Case(std::string dir) : dir_(std::move(dir)) {
    std::ifstream in(dir_ + "/case.txt");
    if (!in) bad_case("cannot read " + dir_ + "/case.txt");
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream words(line);
      std::string key;
      if (!(words >> key)) continue;
      if (key == "op") {
        words >> op_;
      } else if (key == "device") {
        words >> device_;
      } else if (key == "devices") {
        words >> devices_;
      } else if (key == "driver") {
        words >> driver_;
      } else if (key == "multiprocessors") {
        words >> multiprocessors_;
      } else if (key == "param") {
        std::string name, value;
        words >> name >> value;
        params_[name] = value;
      } else if (key == "array") {
        std::string name, dtype;
        int ndim = 0;
        words >> name >> dtype >> ndim;
        std::vector<int64_t> shape(ndim);
        for (int64_t& s : shape) words >> s;
        read_array(name, dtype_from(dtype), shape);
      } else {
        bad_case("unknown case.txt key " + key);
      }
    }
  }

  const std::string& op() const { return op_; }
  int device() const { return device_; }
  int devices() const { return devices_; }
  int driver() const { return driver_; }
  int multiprocessors() const { return multiprocessors_; }

  bool has(const std::string& name) const { return inputs_.count(name) != 0; }
  const Buffer& input(const std::string& name) const {
    auto found = inputs_.find(name);
    if (found == inputs_.end()) bad_case("op " + op_ + " needs the array " + name);
    return *found->second;
  }
  int64_t integer(const std::string& name) const { return std::stoll(param(name)); }
  double real(const std::string& name) const { return std::stod(param(name)); }
  bool has_param(const std::string& name) const { return params_.count(name) != 0; }
  bool flag(const std::string& name) const {
    return has_param(name) && integer(name) != 0;
  }

  Buffer& output(const std::string& name, DType dtype, std::vector<int64_t> shape) {
    outputs_.emplace_back(name, std::make_unique<Buffer>(dtype, std::move(shape)));
    Buffer& buffer = *outputs_.back().second;
    std::memset(buffer.data, 0xFF, buffer.bytes);
    return buffer;
  }
  Buffer& scratch(std::size_t bytes) { return temporary(DType::UInt8, {int64_t(bytes)}); }
  // An array of the op's, alive until the case ends (not an output).
  Buffer& temporary(DType dtype, std::vector<int64_t> shape) {
    scratch_.push_back(std::make_unique<Buffer>(dtype, std::move(shape)));
    return *scratch_.back();
  }

  TensorView view(const Buffer& buffer) const {
    TensorView v;
    v.data = buffer.data;
    v.dtype = buffer.dtype;
    v.device = DeviceType::CUDA;
    v.device_id = device_;
    v.ndim = static_cast<int>(buffer.shape.size());
    for (int i = 0; i < v.ndim; ++i) v.shape[i] = buffer.shape[i];
    return v;
  }

  void write_outputs() const {
    std::ofstream list(dir_ + "/outputs.txt");
    for (const auto& [name, buffer] : outputs_) {
      list << name << ' ' << dtype_name(buffer->dtype) << ' ' << buffer->shape.size();
      for (int64_t s : buffer->shape) list << ' ' << s;
      list << '\n';
      std::ofstream out(dir_ + "/" + name + ".out.bin", std::ios::binary);
      out.write(static_cast<const char*>(buffer->data), static_cast<std::streamsize>(buffer->bytes));
    }
    std::ofstream launches(dir_ + "/launches.txt");
    for (const auto& [name, count] : reid_emu::launch_counts()) launches << name << ' ' << count << '\n';
  }

 private:
  std::string param(const std::string& name) const {
    auto found = params_.find(name);
    if (found == params_.end()) bad_case("op " + op_ + " needs the parameter " + name);
    return found->second;
  }

  void read_array(const std::string& name, DType dtype, const std::vector<int64_t>& shape) {
    auto buffer = std::make_unique<Buffer>(dtype, shape);
    std::ifstream in(dir_ + "/" + name + ".bin", std::ios::binary);
    if (!in) bad_case("cannot read " + dir_ + "/" + name + ".bin");
    in.read(static_cast<char*>(buffer->data), static_cast<std::streamsize>(buffer->bytes));
    if (static_cast<std::size_t>(in.gcount()) != buffer->bytes) bad_case(name + ".bin is too short");
    inputs_[name] = std::move(buffer);
  }

  std::string dir_;
  std::string op_;
  int device_ = 0;
  int devices_ = 1;
  int driver_ = CUDART_VERSION;
  int multiprocessors_ = 132;
  std::map<std::string, std::string> params_;
  std::map<std::string, std::unique_ptr<Buffer>> inputs_;
  std::vector<std::pair<std::string, std::unique_ptr<Buffer>>> outputs_;
  std::vector<std::unique_ptr<Buffer>> scratch_;
};

void pairwise_distance(Case& c, void* stream) {
  const Buffer &x = c.input("x"), &y = c.input("y");
  const int64_t n = x.dim(0), m = y.dim(0), d = x.dim(1);
  PairwiseArgs args;
  args.x = c.view(x);
  args.y = c.view(y);
  args.out = c.view(c.output("out", DType::Float32, {n, m}));
  args.workspace = c.view(c.scratch(cuda::pairwise_distance_workspace_bytes(n, m, d)));
  args.metric = static_cast<Metric>(c.integer("metric"));
  cuda::pairwise_distance(args, stream);
}

void knn(Case& c, void* stream) {
  const Buffer &x = c.input("x"), &y = c.input("y");
  const int64_t n = x.dim(0), m = y.dim(0), d = x.dim(1), k = c.integer("k");
  KnnArgs args;
  args.x = c.view(x);
  args.y = c.view(y);
  args.values = c.view(c.output("values", DType::Float32, {n, k}));
  args.indices = c.view(c.output("indices", DType::Int64, {n, k}));
  if (c.flag("row_max")) args.row_max = c.view(c.output("row_max", DType::Float32, {n}));
  args.workspace = c.view(c.scratch(cuda::knn_workspace_bytes(n, m, d, k, c.device())));
  args.k = k;
  args.metric = static_cast<Metric>(c.integer("metric"));
  cuda::knn(args, stream);
}

// param misalign (optional, 0 .. 3): the matrix starts that many floats into its allocation,
// so that its rows are not 16-byte aligned even when m is a multiple of 4.
void topk_rows(Case& c, void* stream) {
  const Buffer& matrix = c.input("matrix");
  const int64_t n = matrix.dim(0), m = matrix.dim(1), k = c.integer("k");
  const int64_t misalign = c.has_param("misalign") ? c.integer("misalign") : 0;
  Buffer& shifted = c.scratch((misalign + n * m) * sizeof(float));
  std::memcpy(shifted.as<float>() + misalign, matrix.data, matrix.bytes);
  TopkRowsArgs args;
  args.matrix = c.view(matrix);
  args.matrix.data = shifted.as<float>() + misalign;
  args.values = c.view(c.output("values", DType::Float32, {n, k}));
  args.indices = c.view(c.output("indices", DType::Int64, {n, k}));
  if (c.flag("row_max")) args.row_max = c.view(c.output("row_max", DType::Float32, {n}));
  args.workspace = c.view(c.scratch(cuda::topk_rows_workspace_bytes(n, m, k, c.device())));
  args.k = k;
  cuda::topk_rows(args, stream);
}

// Columns [begin, begin + width) of a float32 (rows, columns) or (columns,) input, copied into
// an array of its own, as the framework's GEMM hands the framework-GEMM path one tile at a
// time (so AddressSanitizer guards the tile's own bounds).
const Buffer& column_block(Case& c, const Buffer& input, int64_t begin, int64_t width) {
  const bool matrix = input.shape.size() == 2;
  const int64_t rows = matrix ? input.dim(0) : 1, columns = input.shape.back();
  Buffer& block = c.temporary(DType::Float32, matrix ? std::vector<int64_t>{rows, width}
                                                     : std::vector<int64_t>{width});
  for (int64_t r = 0; r < rows; ++r) {
    std::memcpy(block.as<float>() + r * width, input.as<float>() + r * columns + begin,
                static_cast<std::size_t>(width) * sizeof(float));
  }
  return block;
}

// The framework-GEMM path as reid_fast.ops runs it: dots (r, m) (the dot products the
// framework's GEMM would give) and the row terms x_aux (r,), y_aux (m,) go to the op one tile of
// `tile` columns at a time, in column order; call(tile) runs the op on one tile.
template <typename Call>
void over_column_tiles(Case& c, Call&& call) {
  const Buffer &dots = c.input("dots"), &x_aux = c.input("x_aux"), &y_aux = c.input("y_aux");
  const int64_t m = dots.dim(1), tile_columns = c.integer("tile");
  for (int64_t begin = 0; begin < m; begin += tile_columns) {
    const int64_t width = begin + tile_columns < m ? tile_columns : m - begin;
    DotTile tile;
    tile.dots = c.view(column_block(c, dots, begin, width));
    tile.x_aux = c.view(x_aux);
    tile.y_aux = c.view(column_block(c, y_aux, begin, width));
    tile.column_offset = begin;
    tile.metric = static_cast<Metric>(c.integer("metric"));
    call(tile);
  }
}

void row_aux(Case& c, void* stream) {
  const Buffer& features = c.input("features");
  RowAuxArgs args;
  args.features = c.view(features);
  args.out = c.view(c.output("out", DType::Float32, {features.dim(0)}));
  args.metric = static_cast<Metric>(c.integer("metric"));
  cuda::row_aux(args, stream);
}

void knn_select(Case& c, void* stream) {
  const int64_t rows = c.input("dots").dim(0), k = c.integer("k");
  KnnSelectArgs args;
  args.values = c.view(c.output("values", DType::Float32, {rows, k}));
  args.indices = c.view(c.output("indices", DType::Int64, {rows, k}));
  if (c.flag("row_max")) args.row_max = c.view(c.output("row_max", DType::Float32, {rows}));
  args.workspace =
      c.view(c.scratch(cuda::knn_select_workspace_bytes(rows, c.integer("tile"), k)));
  args.k = k;
  over_column_tiles(c, [&](const DotTile& tile) {
    args.tile = tile;
    cuda::knn_select(args, stream);
  });
}

void distance_tile(Case& c, void* stream) {
  const Buffer& dots = c.input("dots");
  DistanceTileArgs args;
  args.out = c.view(c.output("out", DType::Float32, {dots.dim(0), dots.dim(1)}));
  over_column_tiles(c, [&](const DotTile& tile) {
    args.tile = tile;
    cuda::distance_tile(args, stream);
  });
}

// The count-then-fill protocol of the sparse re-ranking steps, as reid_fast.ops.rerank runs
// it: counts, then indptr = [0, cumsum(counts)] (computed here, on the host, as the framework
// would on the device), then the fill. Outputs: counts, indptr, indices, values.
template <typename Args, typename Call>
void two_phase(Case& c, Args& args, int64_t rows, Call&& call) {
  Buffer& counts = c.output("counts", DType::Int64, {rows});
  args.counts = c.view(counts);
  call(args);
  Buffer& indptr = c.output("indptr", DType::Int64, {rows + 1});
  int64_t total = 0;
  indptr.as<int64_t>()[0] = 0;
  for (int64_t r = 0; r < rows; ++r) {
    total += counts.as<int64_t>()[r];
    indptr.as<int64_t>()[r + 1] = total;
  }
  args.counts = TensorView{};
  args.indptr = c.view(indptr);
  args.indices = c.view(c.output("indices", DType::Int64, {total}));
  args.values = c.view(c.output("values", DType::Float32, {total}));
  call(args);
}

void rerank_reciprocal(Case& c, void* stream) {
  const Buffer& rank = c.input("rank");
  const int64_t rows = rank.dim(0), width = rank.dim(1);
  ReciprocalArgs args;
  args.rank = c.view(rank);
  if (c.has("features")) args.distances.features = c.view(c.input("features"));
  if (c.has("dense")) args.distances.dense = c.view(c.input("dense"));
  args.distances.row_scale = c.view(c.input("row_scale"));
  args.workspace = c.view(c.scratch(cuda::rerank_reciprocal_workspace_bytes(rows, width - 1)));
  two_phase(c, args, rows, [&](const ReciprocalArgs& a) { cuda::rerank_reciprocal(a, stream); });
}

void rerank_query_expansion(Case& c, void* stream) {
  const Buffer& rank = c.input("rank");
  const Buffer& v_indptr = c.input("v_indptr");
  const int64_t rows = rank.dim(0), k2 = c.integer("k2");
  int64_t max_row_nnz = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t length = v_indptr.as<int64_t>()[r + 1] - v_indptr.as<int64_t>()[r];
    max_row_nnz = length > max_row_nnz ? length : max_row_nnz;
  }
  QueryExpansionArgs args;
  args.rank = c.view(rank);
  args.k2 = k2;
  args.v_indptr = c.view(v_indptr);
  args.v_indices = c.view(c.input("v_indices"));
  args.v_values = c.view(c.input("v_values"));
  args.workspace =
      c.view(c.scratch(cuda::rerank_query_expansion_workspace_bytes(rows, k2, max_row_nnz)));
  two_phase(c, args, rows,
            [&](const QueryExpansionArgs& a) { cuda::rerank_query_expansion(a, stream); });
}

void jaccard(Case& c, void* stream) {
  JaccardArgs args;
  args.q_indptr = c.view(c.input("q_indptr"));
  args.q_indices = c.view(c.input("q_indices"));
  args.q_values = c.view(c.input("q_values"));
  args.g_indptr = c.view(c.input("g_indptr"));
  args.g_indices = c.view(c.input("g_indices"));
  args.g_values = c.view(c.input("g_values"));
  args.query_offsets = c.view(c.input("query_offsets"));
  args.gallery_offsets = c.view(c.input("gallery_offsets"));
  args.out_offsets = c.view(c.input("out_offsets"));
  args.num_columns = c.integer("num_columns");
  args.weight = static_cast<float>(c.real("weight"));
  args.keep = static_cast<float>(c.real("keep"));
  const int64_t out_size = c.integer("out_size");
  Buffer& out = c.output("out", DType::Float32, {out_size});
  if (c.has("out_initial")) {
    std::memcpy(out.data, c.input("out_initial").data, out.bytes);
  }
  args.out = c.view(out);
  const int64_t query_rows = args.q_indptr.shape[0] - 1;
  const int64_t gallery_rows = args.g_indptr.shape[0] - 1;
  args.workspace = c.view(c.scratch(cuda::jaccard_workspace_bytes(
      query_rows, gallery_rows, args.g_indices.shape[0], args.num_columns, gallery_rows)));
  cuda::jaccard(args, stream);
}

// count (1,) int64, absent (1,) int64 (0 / 1) and error (bytes of the runtime's error string,
// possibly none).
void query_devices(Case& c, void*) {
  const cuda::DeviceQuery query = cuda::query_devices();
  c.output("count", DType::Int64, {1}).as<int64_t>()[0] = query.count;
  c.output("absent", DType::Int64, {1}).as<int64_t>()[0] = query.absent ? 1 : 0;
  Buffer& error = c.output("error", DType::UInt8, {static_cast<int64_t>(query.error.size())});
  std::memcpy(error.data, query.error.data(), query.error.size());
}

void selftest(Case& c, void*) {
  std::map<std::string, std::vector<int64_t>> results;
  reid_emu_selftest::run(c.op().substr(std::string("selftest_").size()), results);
  for (const auto& [name, values] : results) {
    Buffer& out = c.output(name, DType::Int64, {static_cast<int64_t>(values.size())});
    std::memcpy(out.data, values.data(), out.bytes);
  }
}

void run_op(Case& c) {
  using Op = void (*)(Case&, void*);
  static const std::map<std::string, Op> ops = {
      {"pairwise_distance", pairwise_distance},
      {"knn", knn},
      {"topk_rows", topk_rows},
      {"row_aux", row_aux},
      {"knn_select", knn_select},
      {"distance_tile", distance_tile},
      {"rerank_reciprocal", rerank_reciprocal},
      {"rerank_query_expansion", rerank_query_expansion},
      {"jaccard", jaccard},
      {"query_devices", query_devices},
  };
  reid_emu::configure(c.devices(), c.driver(), c.multiprocessors(), c.device());
  void* stream = c.devices() > 0 && c.driver() >= CUDART_VERSION ? reid_emu::stream_on(c.device()) : nullptr;
  if (c.op().rfind("selftest_", 0) == 0) {
    selftest(c, stream);
  } else {
    auto found = ops.find(c.op());
    if (found == ops.end()) bad_case("unknown op " + c.op());
    found->second(c, stream);
  }
  if (reid_emu::current_device() != 0) {
    std::fprintf(stderr, "reid_emu: error: op %s left device %d current (it was 0)\n",
                 c.op().c_str(), reid_emu::current_device());
    std::exit(3);
  }
  const cudaError_t pending = cudaGetLastError();
  if (pending != cudaSuccess) {
    std::fprintf(stderr, "reid_emu: error: op %s left an unchecked CUDA error: %s\n",
                 c.op().c_str(), cudaGetErrorString(pending));
    std::exit(3);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) bad_case("usage: emu_driver CASE_DIR [CASE_DIR ...]");
  for (int i = 1; i < argc; ++i) {
    std::fprintf(stderr, "emu_driver: case %s\n", argv[i]);
    Case c(argv[i]);
    try {
      run_op(c);
    } catch (const std::exception& error) {
      std::fprintf(stderr, "emu_driver: op %s raised: %s\n", c.op().c_str(), error.what());
      return 4;
    }
    c.write_outputs();
  }
  return 0;
}
