# Per-instruction-set builds of the CPU tile kernels. The generic kernels are always built;
# on x86-64 with a compiler that accepts the flags, AVX2+FMA and AVX-512 versions are built
# too and chosen at run time (csrc/cpu/gemm_dispatch.cpp), so one binary runs everywhere.
include(CheckCXXCompilerFlag)

function(reid_fast_add_cpu_isa_kernels target)
  target_sources(${target} PRIVATE csrc/cpu/tile_kernels_generic.cpp)
  set_source_files_properties(csrc/cpu/tile_kernels_generic.cpp PROPERTIES
    COMPILE_OPTIONS "-ffp-contract=fast")

  if(NOT REID_FAST_NATIVE_ISA OR NOT CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64|amd64")
    return()
  endif()
  check_cxx_compiler_flag("-mavx512f -mfma" REID_FAST_HAS_AVX512_FLAGS)
  check_cxx_compiler_flag("-mavx2 -mfma" REID_FAST_HAS_AVX2_FLAGS)
  if(NOT (REID_FAST_HAS_AVX512_FLAGS AND REID_FAST_HAS_AVX2_FLAGS))
    return()
  endif()
  target_sources(${target} PRIVATE csrc/cpu/tile_kernels_avx2.cpp csrc/cpu/tile_kernels_avx512.cpp)
  set_source_files_properties(csrc/cpu/tile_kernels_avx2.cpp PROPERTIES
    COMPILE_OPTIONS "-mavx2;-mfma;-ffp-contract=fast")
  set_source_files_properties(csrc/cpu/tile_kernels_avx512.cpp PROPERTIES
    COMPILE_OPTIONS "-mavx512f;-mavx2;-mfma;-ffp-contract=fast")
  target_compile_definitions(${target} PRIVATE REID_FAST_CPU_X86_ISA=1)
endfunction()
