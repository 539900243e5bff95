// Tile kernels for avx512: 16 floats per vector, 12 x 32 micro-kernel.
#define REID_CPU_ISA avx512
#define REID_CPU_ISA_NAME "avx512"
#define REID_CPU_VEC_FLOATS 16
#define REID_CPU_MR 12
#include "cpu/tile_kernels_impl.h"
