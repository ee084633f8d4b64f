// Max and average pooling, AVX2 + FMA build. CMakeLists.txt gives this file its ISA flags by its name.
#define FASTCONV_ISA avx2
#include "common/pool2d.hpp"
