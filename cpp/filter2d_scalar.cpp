// filter2d (image correlation), portable baseline (SSE2 on x86-64, NEON on AArch64; auto-vectorised) build. CMakeLists.txt gives this file its ISA flags by its name.
#define FASTCONV_ISA scalar
#include "common/filter2d.hpp"
