#include "tuning.hpp"

#include <atomic>

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#endif

namespace fastconv {
namespace {

constexpr int64_t kMinimumCache = 4096;
std::atomic<int64_t> l1d_bytes{int64_t(32) << 10};
std::atomic<int64_t> l2_bytes{int64_t(512) << 10};
std::atomic<int64_t> l3_bytes{int64_t(8) << 20};

}  // namespace

CacheSizes cache_sizes() { return {l1d_bytes.load(), l2_bytes.load(), l3_bytes.load()}; }

void set_cache_sizes(int64_t l1d, int64_t l2, int64_t l3) {
    l1d_bytes.store(l1d < kMinimumCache ? kMinimumCache : l1d);
    l2_bytes.store(l2 < kMinimumCache ? kMinimumCache : l2);
    l3_bytes.store(l3 < kMinimumCache ? kMinimumCache : l3);
}

Conv2dTuning conv2d_tuning() {
    const CacheSizes c = cache_sizes();
    // Tuned on a 2 MiB-L2 Xeon as 256 KiB group packs, 2 MiB image passes (1 MiB: 1.00-1.08x
    // the time) and 128 KiB bands; kept as the same shares of the L2 on other parts.
    return {c.l2 / 8, c.l2, c.l2 / 16};
}

namespace {

// GNU OpenMP's thread pool does not survive fork(): a child forked after the parent ran a
// parallel region hangs in its first one (multiprocessing's default start method on Linux). Such
// a child runs every kernel on its calling thread, as torch's children do.
std::atomic<bool> pool_started{false};
std::atomic<bool> pool_lost{false};

#if defined(__unix__) || defined(__APPLE__)
void after_fork_in_child() {
    if (pool_started.load()) pool_lost.store(true);
}
const bool fork_handler_registered = pthread_atfork(nullptr, nullptr, after_fork_in_child) == 0;
#endif

}  // namespace

int threads_for_work(int requested, double work, double work_per_thread) {
    if (requested <= 1 || pool_lost.load(std::memory_order_relaxed)) return 1;
    const double worth = work / work_per_thread;
    const int threads = worth >= requested ? requested : worth < 2 ? 1 : static_cast<int>(worth);
    if (threads > 1 && !pool_started.load(std::memory_order_relaxed)) pool_started.store(true);
    return threads;
}

bool thread_pool_lost_to_fork() { return pool_lost.load(); }

}  // namespace fastconv
