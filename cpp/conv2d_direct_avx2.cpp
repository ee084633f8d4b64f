// Direct convolution, AVX2 + FMA build. CMakeLists.txt gives this file its ISA flags by its name.
#define FASTCONV_ISA avx2
#include "common/conv2d_direct.hpp"
