// Tile kernels for avx2: 8 floats per vector, 6 x 16 micro-kernel.
#define REID_CPU_ISA avx2
#define REID_CPU_ISA_NAME "avx2"
#define REID_CPU_VEC_FLOATS 8
#define REID_CPU_MR 6
#include "cpu/tile_kernels_impl.h"
