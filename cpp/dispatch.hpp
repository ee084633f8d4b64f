// Kernel table chosen once from the CPU's features (cpu_features.cpp); can only be lowered.
#pragma once
#include <string>
#include <vector>

#include "common/params.hpp"

namespace fastconv {


#define FASTCONV_KERNEL(name, args) void name(const args&);
namespace scalar {
#include "kernels.inc"
}
#if defined(FASTCONV_X86_VARIANTS)
namespace avx2 {
#include "kernels.inc"
}
namespace avx512 {
#include "kernels.inc"
}
#endif
#undef FASTCONV_KERNEL

struct KernelTable {
    const char* isa;
#define FASTCONV_KERNEL(name, args) void (*name)(const args&);
#include "kernels.inc"
#undef FASTCONV_KERNEL
};

struct CpuFeatures {
    bool sse2 = false, avx = false, avx2 = false, fma = false;
    bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false;
    bool neon = false;
};

CpuFeatures detect_cpu_features();

// SIMD levels compiled in and supported by this CPU, lowest first ("scalar" always).
std::vector<std::string> supported_simd_levels();
// The active kernel table (the best supported level unless lowered by set_simd_level).
const KernelTable& kernels();
// Lower (or restore) the active level; throws std::invalid_argument for an unsupported level.
void set_simd_level(const std::string& level);
// Names of every compiled kernel, "<kernel>_<isa>", for tests and show_config().
std::vector<std::string> compiled_kernel_names();

}  // namespace fastconv
