// Tile kernels for generic: 4 floats per vector, 6 x 8 micro-kernel.
#define REID_CPU_ISA generic
#define REID_CPU_ISA_NAME "generic"
#define REID_CPU_VEC_FLOATS 4
#define REID_CPU_MR 6
#include "cpu/tile_kernels_impl.h"
