// Reads the CPU's SIMD features, including whether the OS saves the wide registers (XGETBV):
// a CPU flag alone is not enough to run AVX code.
#include "dispatch.hpp"

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__) || defined(_M_IX86)
#define FASTCONV_X86 1
#if defined(_MSC_VER)
#include <intrin.h>
#else
#include <cpuid.h>
#endif
#endif

namespace fastconv {

#if defined(FASTCONV_X86)
namespace {
void cpuid(unsigned leaf, unsigned subleaf, unsigned regs[4]) {
#if defined(_MSC_VER)
    int r[4];
    __cpuidex(r, static_cast<int>(leaf), static_cast<int>(subleaf));
    for (int i = 0; i < 4; ++i) regs[i] = static_cast<unsigned>(r[i]);
#else
    __cpuid_count(leaf, subleaf, regs[0], regs[1], regs[2], regs[3]);
#endif
}

unsigned long long xgetbv0() {
#if defined(_MSC_VER)
    return _xgetbv(0);
#else
    unsigned eax = 0, edx = 0;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return (static_cast<unsigned long long>(edx) << 32) | eax;
#endif
}
}  // namespace
#endif

CpuFeatures detect_cpu_features() {
    CpuFeatures f;
#if defined(FASTCONV_X86)
    unsigned r[4] = {0, 0, 0, 0};
    cpuid(0, 0, r);
    const unsigned max_leaf = r[0];
    cpuid(1, 0, r);
    f.sse2 = (r[3] >> 26) & 1;
    const bool osxsave = (r[2] >> 27) & 1;
    const bool cpu_avx = (r[2] >> 28) & 1;
    const bool cpu_fma = (r[2] >> 12) & 1;
    unsigned long long xcr0 = osxsave ? xgetbv0() : 0;
    const bool os_ymm = (xcr0 & 0x6) == 0x6;     // SSE and AVX state
    const bool os_zmm = (xcr0 & 0xE6) == 0xE6;   // plus opmask and ZMM state
    f.avx = cpu_avx && os_ymm;
    f.fma = cpu_fma && os_ymm;
    if (max_leaf >= 7) {
        cpuid(7, 0, r);
        f.avx2 = ((r[1] >> 5) & 1) && os_ymm;
        f.avx512f = ((r[1] >> 16) & 1) && os_zmm;
        f.avx512dq = ((r[1] >> 17) & 1) && os_zmm;
        f.avx512bw = ((r[1] >> 30) & 1) && os_zmm;
        f.avx512vl = ((r[1] >> 31) & 1) && os_zmm;
    }
#elif defined(__aarch64__) || defined(_M_ARM64)
    f.neon = true;  // baseline on AArch64
#endif
    return f;
}

}  // namespace fastconv
