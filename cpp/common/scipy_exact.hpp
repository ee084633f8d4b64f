// What scipy_correlate.hpp and scipy_uniform.hpp share: SciPy's border rules, and the plain
// IEEE operations (add, subtract, multiply, divide, each rounded on its own) on one lane, as
// common/vec.hpp has them on its vector types. The files that include this are built with -ffp-contract=off, so
// that a multiply and the add after it never become one fused multiply-add: SciPy's loops
// round the product first.
#pragma once
#include <cstdint>

#include "common/params.hpp"
#include "common/util.hpp"
#include "common/vec.hpp"

// Parallel-for over `for (job = 0; job < jobs; ++job)` (locals `threads`, `jobs` and `run`), in
// runs of `run` jobs handed out as threads come free: a thread descheduled by other work on a busy
// machine holds up at most one run at the end of the call (with a static or guided split it held
// a large share). scipy_run_length gives runs long enough for consecutive jobs to share lines.
#if defined(FASTCONV_OPENMP)
#define FASTCONV_SCIPY_PARALLEL_FOR_JOBS \
    _Pragma("omp parallel for schedule(dynamic, run) num_threads(threads) if (threads > 1 && jobs > 1)")
#else
#define FASTCONV_SCIPY_PARALLEL_FOR_JOBS
#endif

namespace fastconv {
namespace FASTCONV_ISA {
namespace {

// The index that position i (any integer) of a line of n reads, by SciPy's rules (ni_support.c:
// NI_ExtendLine and NI_InitFilterOffsets agree on these); -1 for the constant mode.
inline int64_t scipy_index(int64_t i, int64_t n, ScipyMode mode) {
    if (i >= 0 && i < n) return i;
    switch (mode) {
        case ScipyMode::nearest:
            return i < 0 ? 0 : n - 1;
        case ScipyMode::wrap: {  // abcd|abcd|abcd
            int64_t m = i % n;
            return m < 0 ? m + n : m;
        }
        case ScipyMode::reflect: {  // dcba|abcd|dcba: period 2n
            const int64_t period = 2 * n;
            int64_t m = i % period;
            if (m < 0) m += period;
            return m < n ? m : period - 1 - m;
        }
        case ScipyMode::mirror: {  // dcb|abcd|cba: period 2n - 2; a single element repeats
            if (n == 1) return 0;
            const int64_t period = 2 * n - 2;
            int64_t m = i % period;
            if (m < 0) m += period;
            return m < n ? m : period - m;
        }
        case ScipyMode::constant:
            return -1;
    }
    return -1;
}

// Up to 16 consecutive jobs per run, and at least 4 runs per thread.
inline int scipy_run_length(int64_t jobs, int threads) {
    const int64_t run = jobs / (4 * static_cast<int64_t>(threads));
    return static_cast<int>(run < 1 ? 1 : (run > 16 ? 16 : run));
}

// One lane: the scalar tail of a line uses the same code as its vectors.
template <typename S>
struct Lane1 {
    using T = S;
    static constexpr int lanes = 1;
    S v;
    static Lane1 load(const S* p) { return {*p}; }
    static Lane1 broadcast(S x) { return {x}; }
    static Lane1 zero() { return {S(0)}; }
    void store(S* p) const { *p = v; }
};
template <typename T>
inline Lane1<T> add(Lane1<T> a, Lane1<T> b) { return {a.v + b.v}; }
template <typename T>
inline Lane1<T> sub(Lane1<T> a, Lane1<T> b) { return {a.v - b.v}; }
template <typename T>
inline Lane1<T> mul(Lane1<T> a, Lane1<T> b) { return {a.v * b.v}; }
template <typename T>
inline Lane1<T> div(Lane1<T> a, Lane1<T> b) { return {a.v / b.v}; }


// n elements of type From as To, each rounded once (a float widens exactly; a double narrows
// to the nearest float, as C's cast and NumPy's astype do).
template <typename To, typename From>
inline void convert_elements(To* dst, const From* src, int64_t n) {
    for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<To>(src[i]);
}

}  // namespace
}  // namespace FASTCONV_ISA
}  // namespace fastconv
