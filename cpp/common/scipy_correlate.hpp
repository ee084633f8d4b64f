// scipy_correlate kernels (ScipyCorrelateArgs in params.hpp): SciPy's correlations with SciPy's
// bits. Included once per ISA by scipy_correlate_<isa>.cpp, which defines FASTCONV_ISA and the
// vector macro (common/vec.hpp); built with -ffp-contract=off (CMakeLists.txt).
//
// SciPy computes one output element at a time, its taps in a fixed order, every product rounded
// before it is added (ni_filters.c: NI_Correlate, NI_Correlate1D; signal: _correlateND,
// pylab_convolve_2d). Here a vector holds neighbouring output elements of a line, and the taps
// run in SciPy's order over the whole vector, so each lane does exactly SciPy's operations.
// A job is (output line, column chunk): it gathers the input lines its taps read, each read once
// into the thread's small line cache as Acc and extended by the mode (an input line that needs
// neither is read in place), so consecutive output lines re-use the lines they share.
#include <cstdint>
#include <type_traits>

#include "common/params.hpp"
#include "common/scipy_exact.hpp"
#include "common/util.hpp"
#include "common/vec.hpp"

#ifndef FASTCONV_ISA
#error "define FASTCONV_ISA before including scipy_correlate.hpp"
#endif

namespace fastconv {
namespace FASTCONV_ISA {
namespace {

constexpr int kMaxScipyDims = 64;

// Positions [first, first + count) of one input line (cells of `cell` elements) into buffer as
// Acc, extended by the mode.
template <typename In, typename Acc>
void read_line(const ScipyCorrelateArgs<Acc>& a, const In* line, int64_t first, int64_t count, Acc* buffer) {
    const int64_t n = a.in_shape[a.ndim - 1];
    const int64_t cell = a.cell;
    auto put = [&](int64_t k) {
        const int64_t index = scipy_index(first + k, n, a.mode);
        Acc* dst = buffer + k * cell;
        if (index < 0) {
            for (int64_t c = 0; c < cell; ++c) dst[c] = a.cval;
        } else {
            convert_elements(dst, line + index * cell, cell);
        }
    };
    int64_t k = 0;
    for (; k < count && first + k < 0; ++k) put(k);
    const int64_t inside_end = util::min_i64(count, n - first);
    if (inside_end > k) {
        convert_elements(buffer + k * cell, line + (first + k) * cell, (inside_end - k) * cell);
        k = inside_end;
    }
    for (; k < count; ++k) put(k);
}

// Output elements [j, j + U * V::lanes) of a job: tap t reads taps[t] + j.
template <ScipyCombine combine, class V, int U, typename Acc>
inline void correlate_block(const ScipyCorrelateArgs<Acc>& a, const Acc* const* taps, int64_t j, Acc* out) {
    constexpr int L = V::lanes;
    V acc[U];
    if constexpr (combine == ScipyCombine::sum) {
        for (int u = 0; u < U; ++u) acc[u] = V::zero();
        if (a.groups == a.taps) {  // every group one product: acc += w * x
            for (int64_t t = 0; t < a.taps; ++t) {
                const V w = V::broadcast(a.weights[t]);
                const Acc* x = taps[t] + j;
                for (int u = 0; u < U; ++u) acc[u] = add(acc[u], mul(w, V::load(x + u * L)));
            }
        } else {
            int64_t t = 0;
            for (int64_t g = 0; g < a.groups; ++g) {
                const int64_t size = a.group_sizes[g];
                V part[U];
                const V w0 = V::broadcast(a.weights[t]);
                for (int u = 0; u < U; ++u) part[u] = mul(w0, V::load(taps[t] + j + u * L));
                for (int64_t r = 1; r < size; ++r) {
                    const V w = V::broadcast(a.weights[t + r]);
                    const Acc* x = taps[t + r] + j;
                    for (int u = 0; u < U; ++u) part[u] = add(part[u], mul(w, V::load(x + u * L)));
                }
                for (int u = 0; u < U; ++u) acc[u] = add(acc[u], part[u]);
                t += size;
            }
        }
    } else if constexpr (combine == ScipyCombine::sum_from_first) {
        const V w0 = V::broadcast(a.weights[0]);
        for (int u = 0; u < U; ++u) acc[u] = mul(V::load(taps[0] + j + u * L), w0);
        for (int64_t t = 1; t < a.taps; ++t) {
            const V w = V::broadcast(a.weights[t]);
            const Acc* x = taps[t] + j;
            for (int u = 0; u < U; ++u) acc[u] = add(acc[u], mul(V::load(x + u * L), w));
        }
    } else {
        const V w0 = V::broadcast(a.weights[0]);
        for (int u = 0; u < U; ++u) acc[u] = mul(V::load(taps[0] + j + u * L), w0);
        for (int64_t t = 1; t + 1 < a.taps; t += 2) {
            const V w = V::broadcast(a.weights[t]);
            const Acc* left = taps[t] + j;
            const Acc* right = taps[t + 1] + j;
            for (int u = 0; u < U; ++u) {
                const V pair = combine == ScipyCombine::fold_symmetric
                                   ? add(V::load(left + u * L), V::load(right + u * L))
                                   : sub(V::load(left + u * L), V::load(right + u * L));
                acc[u] = add(acc[u], mul(pair, w));
            }
        }
    }
    for (int u = 0; u < U; ++u) acc[u].store(out + j + u * L);
}

template <ScipyCombine combine, typename Acc>
void correlate_elements(const ScipyCorrelateArgs<Acc>& a, const Acc* const* taps, int64_t n, Acc* out) {
    using V = typename VecFor<Acc>::type;
    constexpr int U = kVectorRegisters >= 32 ? 12 : 8;  // enough independent sums to hide the add latency
    int64_t j = 0;
    for (; j + U * V::lanes <= n; j += U * V::lanes) correlate_block<combine, V, U>(a, taps, j, out);
    for (; j + V::lanes <= n; j += V::lanes) correlate_block<combine, V, 1>(a, taps, j, out);
    for (; j < n; ++j) correlate_block<combine, Lane1<Acc>, 1>(a, taps, j, out);
}

template <typename In, typename Out, typename Acc>
void correlate_typed(const ScipyCorrelateArgs<Acc>& a) {
    const int d = a.ndim;
    int64_t lines = 1;
    for (int k = 0; k + 1 < d; ++k) lines *= a.out_shape[k];
    const int64_t out_width = a.out_shape[d - 1];
    const int64_t in_line_elements = a.in_shape[d - 1] * a.cell;
    const int64_t slots = a.slots;
    const int64_t jobs = lines * a.chunks;
    const int threads = a.num_threads;
    const In* input = static_cast<const In*>(a.input);
    Out* output = static_cast<Out*>(a.output);
    const int run = scipy_run_length(jobs, threads);
    (void)run;  // read by the OpenMP pragma only
    FASTCONV_SCIPY_PARALLEL_FOR_JOBS
    for (int64_t job = 0; job < jobs; ++job) {
        const int64_t thread = util::thread_index();
        Acc* cache = a.scratch + thread * (slots + 2) * a.line_elements;
        Acc* constant_line = cache + slots * a.line_elements;
        Acc* staging = constant_line + a.line_elements;
        int64_t* tags = a.tags + thread * 3 * slots;
        int64_t* last_used = tags + slots;
        int64_t* wanted = last_used + slots;
        const Acc** slot_line = a.pointers + thread * (slots + a.taps);
        const Acc** tap_line = slot_line + slots;

        const int64_t line = job / a.chunks;
        const int64_t chunk = job % a.chunks;
        const int64_t p0 = chunk * a.chunk_positions;
        const int64_t count = util::min_i64(out_width, p0 + a.chunk_positions) - p0;
        const int64_t first = p0 + a.shift[d - 1] + a.column_low;
        const int64_t span = count + a.column_high - a.column_low;
        int64_t coords[kMaxScipyDims];
        for (int64_t k = d - 2, rest = line; k >= 0; --k) {
            coords[k] = rest % a.out_shape[k];
            rest /= a.out_shape[k];
        }
        // Which input line each slot reads (-1: the constant line), and the cache hits.
        bool constant_filled = false;
        for (int64_t r = 0; r < slots; ++r) {
            int64_t source = 0;
            for (int k = 0; k + 1 < d && source >= 0; ++k) {
                const int64_t index =
                    scipy_index(coords[k] + a.shift[k] + a.slot_offsets[r * (d - 1) + k], a.in_shape[k], a.mode);
                source = index < 0 ? -1 : source * a.in_shape[k] + index;
            }
            wanted[r] = source;
            slot_line[r] = nullptr;
            if (source < 0) {
                if (!constant_filled) {
                    for (int64_t i = 0; i < span * a.cell; ++i) constant_line[i] = a.cval;
                    constant_filled = true;
                }
                slot_line[r] = constant_line;
                continue;
            }
            const In* line_start = input + source * in_line_elements;
            if constexpr (std::is_same_v<In, Acc>) {
                if (first >= 0 && first + span <= a.in_shape[d - 1]) {
                    slot_line[r] = line_start + first * a.cell;  // read in place
                    continue;
                }
            }
            const int64_t key = source * a.chunks + chunk;
            for (int64_t c = 0; c < slots; ++c) {
                if (tags[c] == key) {
                    last_used[c] = job + 1;
                    slot_line[r] = cache + c * a.line_elements;
                    break;
                }
            }
        }
        // The misses, into cached lines this job does not use (there are enough: at most
        // `slots` distinct lines per job).
        for (int64_t r = 0; r < slots; ++r) {
            if (slot_line[r] != nullptr) continue;
            const int64_t key = wanted[r] * a.chunks + chunk;
            int64_t free_line = -1;
            for (int64_t c = 0; c < slots; ++c) {
                if (tags[c] == key) {
                    free_line = c;
                    break;
                }
            }
            if (free_line < 0) {
                for (int64_t c = 0; c < slots; ++c) {
                    if (last_used[c] != job + 1) {
                        free_line = c;
                        break;
                    }
                }
                read_line<In, Acc>(a, input + wanted[r] * in_line_elements, first, span,
                                   cache + free_line * a.line_elements);
                tags[free_line] = key;
            }
            last_used[free_line] = job + 1;
            slot_line[r] = cache + free_line * a.line_elements;
        }
        for (int64_t t = 0; t < a.taps; ++t)
            tap_line[t] = slot_line[a.tap_slot[t]] + (a.tap_column[t] - a.column_low) * a.cell;

        Out* out = output + line * out_width * a.cell + p0 * a.cell;
        Acc* target = nullptr;
        if constexpr (std::is_same_v<Out, Acc>)
            target = out;
        else
            target = staging;
        const int64_t n = count * a.cell;
        switch (a.combine) {
            case ScipyCombine::sum:
                correlate_elements<ScipyCombine::sum>(a, tap_line, n, target);
                break;
            case ScipyCombine::sum_from_first:
                correlate_elements<ScipyCombine::sum_from_first>(a, tap_line, n, target);
                break;
            case ScipyCombine::fold_symmetric:
                correlate_elements<ScipyCombine::fold_symmetric>(a, tap_line, n, target);
                break;
            case ScipyCombine::fold_antisymmetric:
                correlate_elements<ScipyCombine::fold_antisymmetric>(a, tap_line, n, target);
                break;
        }
        if constexpr (!std::is_same_v<Out, Acc>) convert_elements(out, staging, n);
    }
}

template <typename Acc>
void correlate_dispatch(const ScipyCorrelateArgs<Acc>& a) {
    const bool in32 = a.input_type == ElementType::float32;
    const bool out32 = a.output_type == ElementType::float32;
    if (in32 && out32)
        correlate_typed<float, float, Acc>(a);
    else if (in32)
        correlate_typed<float, double, Acc>(a);
    else if (out32)
        correlate_typed<double, float, Acc>(a);
    else
        correlate_typed<double, double, Acc>(a);
}

}  // namespace

void scipy_correlate_f64(const ScipyCorrelateArgs<double>& a) { correlate_dispatch(a); }
void scipy_correlate_f32(const ScipyCorrelateArgs<float>& a) { correlate_dispatch(a); }

}  // namespace FASTCONV_ISA
}  // namespace fastconv
