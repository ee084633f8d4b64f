// Depthwise convolution, portable baseline (128-bit vectors the compiler maps to SSE2 / NEON) build. CMakeLists.txt gives this file its ISA flags by its name.
#define FASTCONV_ISA scalar
#include "common/conv2d_depthwise.hpp"
