// Max and average pooling, AVX-512 F/BW/VL/DQ build. CMakeLists.txt gives this file its ISA flags by its name.
#define FASTCONV_ISA avx512
#include "common/pool2d.hpp"
