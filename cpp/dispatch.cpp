#include "dispatch.hpp"

#include <atomic>
#include <stdexcept>

namespace fastconv {
namespace {

#define FASTCONV_KERNEL(name, args) &ISA_NAMESPACE::name,
#define ISA_NAMESPACE scalar
const KernelTable scalar_table = {"scalar",
#include "kernels.inc"
};
#undef ISA_NAMESPACE
#if defined(FASTCONV_X86_VARIANTS)
#define ISA_NAMESPACE avx2
const KernelTable avx2_table = {"avx2",
#include "kernels.inc"
};
#undef ISA_NAMESPACE
#define ISA_NAMESPACE avx512
const KernelTable avx512_table = {"avx512",
#include "kernels.inc"
};
#undef ISA_NAMESPACE
#endif
#undef FASTCONV_KERNEL

struct Level {
    const char* name;
    const KernelTable* table;
    bool supported;
};

std::vector<Level> all_levels() {
    const CpuFeatures f = detect_cpu_features();
    std::vector<Level> levels = {{"scalar", &scalar_table, true}};
#if defined(FASTCONV_X86_VARIANTS)
    levels.push_back({"avx2", &avx2_table, f.avx2 && f.fma});
    levels.push_back({"avx512", &avx512_table,
                      f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.fma});
#else
    (void)f;
#endif
    return levels;
}

const std::vector<Level>& levels() {
    static const std::vector<Level> cached = all_levels();
    return cached;
}

const KernelTable* best_table() {
    const KernelTable* best = &scalar_table;
    for (const Level& level : levels())
        if (level.supported) best = level.table;
    return best;
}

std::atomic<const KernelTable*>& active_table() {
    static std::atomic<const KernelTable*> active{best_table()};
    return active;
}

}  // namespace

std::vector<std::string> supported_simd_levels() {
    std::vector<std::string> names;
    for (const Level& level : levels())
        if (level.supported) names.emplace_back(level.name);
    return names;
}

const KernelTable& kernels() { return *active_table().load(); }

void set_simd_level(const std::string& name) {
    for (const Level& level : levels()) {
        if (name == level.name) {
            if (!level.supported)
                throw std::invalid_argument("SIMD level '" + name + "' is not supported by this CPU");
            active_table().store(level.table);
            return;
        }
    }
    throw std::invalid_argument("unknown SIMD level '" + name + "'");
}

std::vector<std::string> compiled_kernel_names() {
    std::vector<std::string> names;
    for (const Level& level : levels()) {
#define FASTCONV_KERNEL(kernel, args) names.push_back(std::string(#kernel) + "_" + level.name);
#include "kernels.inc"
#undef FASTCONV_KERNEL
    }
    return names;
}

}  // namespace fastconv
