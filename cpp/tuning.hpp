// Cache sizes and the block sizes derived from them. The Python layer reads the machine's caches
// (fastconv/_cpu.py: sysfs, with FASTCONV_CACHE_L2 / _L3 overrides) and sets them once at import;
// until then a small desktop part's sizes are assumed. Read by the baseline code that prepares a
// call (conv2d.cpp, pool and filter setup), never inside a kernel's loops.
#pragma once
#include <cstdint>

namespace fastconv {

struct CacheSizes {
    int64_t l1d, l2, l3;  // bytes: L1 data and L2 per core, L3 shared
};

CacheSizes cache_sizes();
// Sizes below 4 KiB are raised to 4 KiB (the block sizes below must stay positive).
void set_cache_sizes(int64_t l1d, int64_t l2, int64_t l3);

// What conv2d derives from the caches (see conv2d.cpp for how each is used).
struct Conv2dTuning {
    int64_t group_pack_bytes;  // a depthwise/grouped igemm job packs its group when it fits: L2 / 8
    int64_t image_pass_bytes;  // igemm_channels packs several small-plane images up to: L2
    int64_t lane_band_bytes;   // NHWC depthwise bands of input rows of about: L2 / 16
};
Conv2dTuning conv2d_tuning();

// The threads a call of `work` units is worth, at most `requested`: each thread must have at
// least `work_per_thread` units, since waking a pool costs microseconds (far more when the other
// cores are busy) and a tiny call is done sooner alone. torch caps its threads by a grain size
// for the same reason. Units: multiply-adds for conv2d and filter2d, window cells visited for
// the pools.
// In a process forked after the parent used its thread pool, always 1 (see tuning.cpp).
int threads_for_work(int requested, double work, double work_per_thread);
bool thread_pool_lost_to_fork();
constexpr double kConvWorkPerThread = 131072;
constexpr double kPoolWorkPerThread = 65536;
constexpr double kFilterWorkPerThread = 131072;

}  // namespace fastconv
