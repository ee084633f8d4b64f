// Max and average pooling, AVX2 + FMA build. CMakeLists.txt gives this file its ISA flags by its name.
#define FASTCONV_ISA avx2
#define FASTCONV_VEC_AVX2 1
#include "common/pool2d.hpp"
