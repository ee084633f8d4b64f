// scipy_uniform (SciPy's bits, fastconv.scipy), portable baseline (SSE2 on x86-64, NEON on AArch64) build. CMakeLists.txt gives this file its ISA flags by its name.
#define FASTCONV_ISA scalar
#include "common/scipy_uniform.hpp"
