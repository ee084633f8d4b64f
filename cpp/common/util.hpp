// ISA-neutral helpers shared by the kernel files. Everything here has internal linkage (static):
// a per-ISA file includes it, so an inline copy built with -mavx512f can never be the one the
// linker keeps for the scalar path. No std containers or algorithms for the same reason.
#pragma once
#include <cstdint>
#include <limits>

#if defined(FASTCONV_OPENMP)
#include <omp.h>
#endif

// A hint to bring the line at p into cache (no effect where the compiler has no such builtin).
#if defined(__GNUC__) || defined(__clang__)
#define FASTCONV_PREFETCH(p) __builtin_prefetch(p)
#else
#define FASTCONV_PREFETCH(p) ((void)(p))
#endif

namespace fastconv {
namespace util {

static inline int64_t min_i64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t max_i64(int64_t a, int64_t b) { return a > b ? a : b; }

// Smallest k >= 0 with start + k * step >= 0 (step > 0), as a number of steps.
static inline int64_t steps_to_nonnegative(int64_t start, int64_t step) {
    return start >= 0 ? 0 : (-start + step - 1) / step;
}

// Output positions o in [lo, hi) for which o * stride + offset lands inside [0, size).
static inline void valid_output_range(int64_t offset, int64_t stride, int64_t size,
                                      int64_t out_size, int64_t* lo, int64_t* hi) {
    *lo = steps_to_nonnegative(offset, stride);
    const int64_t last = size - 1 - offset;
    *hi = last < 0 ? 0 : min_i64(out_size, last / stride + 1);
    if (*lo > *hi) *lo = *hi;
}

template <typename T>
static inline bool is_nan(T v) { return v != v; }

// This thread's index in the current parallel region (0 outside one or without OpenMP).
static inline int64_t thread_index() {
#if defined(FASTCONV_OPENMP)
    return omp_get_thread_num();
#else
    return 0;
#endif
}

template <typename T>
static inline T relu(T v) { return v < T(0) ? T(0) : v; }  // NaN stays NaN, like torch

}  // namespace util
}  // namespace fastconv

// Parallel-for over the next loop `for (job = 0; job < jobs; ++job)`, with the caller's thread
// count in a local `threads` (the names are part of the contract); serial without OpenMP.
// Guided: each thread takes a large run of consecutive jobs first (what they share stays in its
// caches, as with a static split), then ever smaller ones, so that a thread slowed by another
// library's spinning thread pool (torch's OpenMP runtime is a separate one on the same cores)
// hands its remaining jobs to the others instead of holding up the call.
#if defined(FASTCONV_OPENMP)
#define FASTCONV_PARALLEL_FOR_JOBS \
    _Pragma("omp parallel for schedule(guided) num_threads(threads) if (threads > 1 && jobs > 1)")
// The same with jobs handed out as threads come free: for many small jobs (pooling planes), so
// that a thread slowed by another library's spinning thread pool does not hold up the call.
#define FASTCONV_PARALLEL_FOR_JOBS_DYNAMIC \
    _Pragma("omp parallel for schedule(dynamic, 4) num_threads(threads) if (threads > 1 && jobs > 1)")
// The same over a loop counted by `group_jobs`.
#define FASTCONV_PARALLEL_FOR_GROUP_JOBS \
    _Pragma("omp parallel for schedule(guided) num_threads(threads) if (threads > 1 && group_jobs > 1)")
#else
#define FASTCONV_PARALLEL_FOR_JOBS
#define FASTCONV_PARALLEL_FOR_JOBS_DYNAMIC
#define FASTCONV_PARALLEL_FOR_GROUP_JOBS
#endif
