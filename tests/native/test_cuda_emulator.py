"""The CUDA emulator itself (tests/emulated_cuda.py, tests/cuda_emulator/): its source
transform, the semantics of its built-in variables, barriers, warp intrinsics, shared memory
and atomics against hand-computed results, and the defects it must report, planted both in
small self-test kernels and in copies of reid_fast's own kernels (an out-of-bounds write, a
missing barrier, a barrier or warp intrinsic that not every thread reaches, a missing device
guard). A planted defect that went unreported would mean that test_cuda_emulated.py cannot
fail for it either."""

from __future__ import annotations

import numpy as np
import pytest

import emulated_cuda as emu
from test_cuda_emulated import check_knn, features

pytestmark = pytest.mark.emulated


@pytest.fixture(scope="module")
def driver():
    return emu.build_driver()


def selftest(driver, which: str) -> emu.Result:
    return emu.run_case(emu.Case(f"selftest_{which}"), driver)


def planted(name: str, old: str, new: str):
    """A driver built with ``old`` replaced by ``new`` (exactly once) in csrc/cuda/``name``."""
    text = (emu.CUDA_DIR / name).read_text()
    assert text.count(old) == 1, f"{old!r} must occur once in {name}"
    return emu.build_driver({name: text.replace(old, new)})


# --------------------------------------------------------------------------------------
# The source transform
# --------------------------------------------------------------------------------------


def test_transform_rewrites_launches_and_shared_declarations():
    source = (
        "__global__ void k(int* p) {\n"
        "  __shared__ float tile[4][kSide + 1];\n"
        "  __shared__ long long total;\n"
        "}\n"
        "void run(int* p) {\n"
        "  ns::kern<A, B::C>\n"
        "      <<<grid, capped(n, 8), 0, stream>>>(p, 1);\n"
        "  k<<<1, 32>>>(p);\n"
        "}\n"
    )
    out = emu.transform(source, "x.cu")
    assert out.splitlines()[0] == '#line 1 "x.cu"'
    body = out.splitlines()[1:]
    assert len(body) == len(source.splitlines())  # line numbers are kept
    assert body[1] == '  auto& tile = ::reid_emu::shared_variable<float[4][kSide + 1]>("x.cu:tile");'
    assert body[2] == '  auto& total = ::reid_emu::shared_variable<long long>("x.cu:total");'
    assert body[5] == '  ::reid_emu::launch(&ns::kern<A, B::C>, "kern", grid, capped(n, 8), 0, stream)('
    assert body[6] == "p, 1);"
    assert body[7] == '  ::reid_emu::launch(&k, "k", 1, 32)(p);'


def test_transform_refuses_what_it_does_not_understand():
    with pytest.raises(ValueError, match="__shared__"):
        emu.transform("extern __shared__ float dynamic[];\n", "x.cu")


# --------------------------------------------------------------------------------------
# Semantics, against hand-computed results
# --------------------------------------------------------------------------------------


def test_warp_intrinsics(driver):
    out = selftest(driver, "warp")["out"].reshape(64, 8)
    for t in range(64):
        lane, warp = t % 32, t // 32
        half_first = lane & 16
        expected = [
            sum(1 << i for i in range(0, 32, 3)),                         # ballot(lane % 3 == 0)
            (lane ^ 5) * 10,                                               # xor 5
            (lane - 3) * 10 if lane >= 3 else lane * 10,                   # up 3: low lanes keep theirs
            (lane + 4) * 10 if lane + 4 < 32 else lane * 10,               # down 4: high lanes keep theirs
            70 + warp,                                                     # from lane 7 of the same warp
            (1 << 40) + (lane ^ 1),                                        # 64-bit values move whole
            sum(1 << i for i in range(half_first + 1, half_first + 16, 2)),  # half-warp ballot, odd lanes
            half_first + 15,                                               # half-warp shuffle from its last lane
        ]
        assert out[t].tolist() == expected, t


def test_block_barriers_and_shared_memory(driver):
    values = np.arange(3 * 128, dtype=np.int64) ** 2
    assert selftest(driver, "block_sum")["out"].tolist() == values.reshape(3, 128).sum(axis=1).tolist()


def test_built_in_indices_of_3d_grids_and_blocks(driver):
    out = selftest(driver, "indices")["out"].reshape(-1, 6)
    expected = [(bx, by, bz, tx, ty, tz)
                for bz in range(2) for by in range(2) for bx in range(3)
                for tz in range(3) for ty in range(2) for tx in range(4)]
    assert [tuple(row) for row in out.tolist()] == expected


def test_atomics(driver):
    result = selftest(driver, "atomic")
    assert result["counter"].tolist() == [192]
    assert sorted(result["old"].tolist()) == list(range(192))  # each thread saw its own old value


def test_invalid_launches_are_reported_not_run(driver):
    result = selftest(driver, "bad_launch")
    # cudaErrorInvalidConfiguration (9): 2,048 threads, and a grid.y of 70,000.
    assert result["error"].tolist() == [9]
    assert result["error_grid"].tolist() == [9]
    assert result.launches == {}


def test_unwritten_shared_memory_reads_as_poison(driver):
    assert selftest(driver, "uninitialised_shared")["out"].tolist() == [-1] * 32


# --------------------------------------------------------------------------------------
# Planted defects in self-test kernels
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("which, report", [
    ("divergent_barrier", "a __syncthreads is not reached by every thread"),
    ("partial_warp", "deadlock"),
    ("deadlock", "deadlock"),
    ("shared_overflow", "out of bounds"),
    ("global_overflow", "heap-buffer-overflow"),
    ("oversized_shared", "over the 49152-byte limit"),
])
def test_planted_defects_are_reported(driver, which, report):
    with pytest.raises(emu.EmulatorFailure, match=report):
        selftest(driver, which)


# --------------------------------------------------------------------------------------
# Planted defects in copies of reid_fast's kernels
# --------------------------------------------------------------------------------------


def test_out_of_bounds_write_in_a_kernel_fails(rng):
    """pairwise_kernel without its column bound writes past the end of the output rows; the
    last row's overflow leaves the output allocation."""
    broken = planted("pairwise_distance_cuda.cu", "if (col < m) out_row[col] =", "out_row[col] =")
    (_, x), (_, y) = features(rng, 70, 17, "float32"), features(rng, 130, 17, "float32")
    with pytest.raises(emu.EmulatorFailure, match="heap-buffer-overflow"):
        emu.run_case(emu.Case("pairwise_distance", {"x": x, "y": y}, {"metric": 0}), broken)


def test_missing_barrier_in_a_kernel_fails(rng):
    """knn_select_kernel without the barrier after the distance tile: warps select from rows
    of the tile that other warps have not finalised yet (still the previous tile, or the
    poison of fresh shared memory), and test_knn's check fails."""
    broken = planted("knn_cuda.cu", "__syncthreads();  // the distance tile is complete", "")
    with pytest.raises(AssertionError):
        check_knn(broken, rng, "sqeuclidean", "float32")


def test_barrier_not_reached_in_a_kernel_fails(rng):
    broken = planted("pairwise_distance_cuda.cu", "  const int ty = tid / kTileSide;\n\n  for",
                     "  const int ty = tid / kTileSide;\n  if (tid == 7) return;\n\n  for")
    (_, x), (_, y) = features(rng, 5, 3, "float32"), features(rng, 9, 3, "float32")
    with pytest.raises(emu.EmulatorFailure, match="not reached by every thread"):
        emu.run_case(emu.Case("pairwise_distance", {"x": x, "y": y}, {"metric": 1}), broken)


def test_warp_intrinsic_not_reached_in_a_kernel_fails(rng):
    broken = planted("topk_rows_cuda.cu",
                     "if (__ballot_sync(kFullMask, any_wanted) == 0u) continue;",
                     "if ((lane == 3 ? 0u : __ballot_sync(kFullMask, any_wanted)) == 0u) continue;")
    matrix = rng.random((4, 40)).astype(np.float32)
    with pytest.raises(emu.EmulatorFailure, match="deadlock"):
        emu.run_case(emu.Case("topk_rows", {"matrix": matrix}, {"k": 3, "row_max": 0}), broken)


def test_missing_device_guard_fails(rng):
    """Arrays and stream on device 1, device 0 current: without the guard the first launch
    goes to a stream of another device, which CUDA (and the emulator) refuses."""
    broken = planted("knn_cuda.cu", "  DeviceGuard guard(args.x.device_id);\n", "")
    (_, x), (_, y) = features(rng, 5, 4, "float32"), features(rng, 50, 4, "float32")
    case = emu.Case("knn", {"x": x, "y": y}, {"k": 3, "metric": 1}, device=1, devices=2)
    with pytest.raises(emu.EmulatorFailure, match="invalid resource handle"):
        emu.run_case(case, broken)
