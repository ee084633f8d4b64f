// Max and average pooling, AVX-512 F/BW/VL/DQ build. CMakeLists.txt gives this file its ISA flags by its name.
#define FASTCONV_ISA avx512
#define FASTCONV_VEC_AVX512 1
#include "common/pool2d.hpp"
