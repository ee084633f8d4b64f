// Implicit-GEMM convolution, output channels in the lanes, AVX2 + FMA build. CMakeLists.txt gives this file its ISA flags by its name.
#define FASTCONV_ISA avx2
#define FASTCONV_VEC_AVX2 1
#include "common/conv2d_igemm_channels.hpp"
