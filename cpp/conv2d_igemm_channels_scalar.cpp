// Implicit-GEMM convolution, output channels in the lanes, portable baseline (128-bit vectors the compiler maps to SSE2 / NEON) build. CMakeLists.txt gives this file its ISA flags by its name.
#define FASTCONV_ISA scalar
#include "common/conv2d_igemm_channels.hpp"
