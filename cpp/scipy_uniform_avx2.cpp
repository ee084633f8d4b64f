// scipy_uniform (SciPy's bits, fastconv.scipy), AVX2 build. CMakeLists.txt gives this file its ISA flags by its name.
#define FASTCONV_ISA avx2
#define FASTCONV_VEC_AVX2 1
#include "common/scipy_uniform.hpp"
