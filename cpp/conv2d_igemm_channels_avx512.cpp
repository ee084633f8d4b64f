// Implicit-GEMM convolution, output channels in the lanes, AVX-512 build. CMakeLists.txt gives this file its ISA flags by its name.
#define FASTCONV_ISA avx512
#define FASTCONV_VEC_AVX512 1
#include "common/conv2d_igemm_channels.hpp"
