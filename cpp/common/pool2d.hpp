// Max and average pooling with PyTorch's CPU semantics, included once per ISA by
// pool2d_<isa>.cpp with FASTCONV_ISA set to the namespace name.
//   max: padded cells never win; a NaN wins and stays (the last NaN's index is kept, as torch);
//        ties keep the first index; the index is flat into the input's H*W plane.
//   avg: the divisor is divisor_override, else the window clipped to input + padding
//        (count_include_pad) or to the input alone; a window with no input cell gives 0.
//   NCHW: one job per (image, channel) plane; NHWC: one job per (image, output row), the
//   innermost loops running over the contiguous channels.
#include <cstdlib>
#include <limits>
#include <new>
#include <type_traits>

#include "common/params.hpp"
#include "common/util.hpp"
#include "common/vec.hpp"

#ifndef FASTCONV_ISA
#error "define FASTCONV_ISA before including pool2d.hpp"
#endif

namespace fastconv {
namespace FASTCONV_ISA {
namespace {

struct Window {
    int64_t h_begin, h_end, w_begin, w_end;  // [begin, end) in input cells, stepping by dilation
};

// Max pooling window (torch: start moved forward by whole dilation steps until inside).
template <typename T>
inline Window max_window(const Pool2dArgs<T>& a, int64_t oh, int64_t ow) {
    int64_t h0 = oh * a.stride_h - a.pad_h;
    int64_t w0 = ow * a.stride_w - a.pad_w;
    const int64_t h1 = util::min_i64(h0 + (a.kernel_height - 1) * a.dilation_h + 1, a.in_height);
    const int64_t w1 = util::min_i64(w0 + (a.kernel_width - 1) * a.dilation_w + 1, a.in_width);
    h0 += util::steps_to_nonnegative(h0, a.dilation_h) * a.dilation_h;
    w0 += util::steps_to_nonnegative(w0, a.dilation_w) * a.dilation_w;
    return {h0, h1, w0, w1};
}

// One tap of an output row: best[ow] = max(best[ow], row[ow * step + offset]) with torch's rule
// (a NaN wins and stays, ties keep the earlier cell), for ow in [lo, hi); Step 0: runtime step.
template <int Step, typename T>
inline void max_tap_step(const T* row, int64_t row_start, int64_t step, int64_t offset, int64_t lo, int64_t hi,
                         T* best, int64_t* best_index) {
    const int64_t s = Step ? Step : step;
    if (best_index) {
        for (int64_t ow = lo; ow < hi; ++ow) {
            const T v = row[ow * s + offset];
            const bool take = v > best[ow] || util::is_nan(v);
            best[ow] = take ? v : best[ow];
            best_index[ow] = take ? row_start + ow * s + offset : best_index[ow];
        }
    } else {
        for (int64_t ow = lo; ow < hi; ++ow) {
            const T v = row[ow * s + offset];
            best[ow] = (v > best[ow] || util::is_nan(v)) ? v : best[ow];
        }
    }
}

template <typename T>
inline void max_tap(const T* row, int64_t row_start, int64_t step, int64_t offset, int64_t lo, int64_t hi, T* best,
                    int64_t* best_index) {
    if (step == 1)
        max_tap_step<1>(row, row_start, step, offset, lo, hi, best, best_index);
    else if (step == 2)
        max_tap_step<2>(row, row_start, step, offset, lo, hi, best, best_index);
    else
        max_tap_step<0>(row, row_start, step, offset, lo, hi, best, best_index);
}

// Average pooling along one axis: the input cells [begin, end) the window at output o holds, and
// the cells it counts toward the divisor (clipped to input + padding, or to the input alone).
struct AvgSpan {
    int64_t begin, end, counted;
};

inline AvgSpan avg_span(int64_t o, int64_t stride, int64_t pad, int64_t kernel, int64_t size, bool include_pad) {
    const int64_t start = o * stride - pad;
    const int64_t stop = util::min_i64(start + kernel, size + pad);
    const int64_t begin = util::max_i64(start, 0), end = util::min_i64(stop, size);
    return {begin, end, include_pad ? stop - start : util::max_i64(0, end - begin)};
}

struct AvgWindow {
    int64_t h_begin, h_end, w_begin, w_end;
    int64_t divisor;  // 0 when the window holds no input cell
};

template <typename T>
inline AvgWindow avg_window(const Pool2dArgs<T>& a, int64_t oh, int64_t ow) {
    const AvgSpan h = avg_span(oh, a.stride_h, a.pad_h, a.kernel_height, a.in_height, a.count_include_pad);
    const AvgSpan w = avg_span(ow, a.stride_w, a.pad_w, a.kernel_width, a.in_width, a.count_include_pad);
    if (h.begin >= h.end || w.begin >= w.end) return {h.begin, h.begin, w.begin, w.begin, 0};
    return {h.begin, h.end, w.begin, w.end, a.divisor_override != 0 ? a.divisor_override : h.counted * w.counted};
}

// A NaN, or a -0 (equal to +0 but not the same bits): the inputs whose max depends on the order
// in which the taps are taken. An integer compare of the bits, which GCC vectorises.
template <typename T>
inline int32_t order_matters(T x) {
    using Bits = typename std::conditional<sizeof(T) == 4, uint32_t, uint64_t>::type;
    Bits bits;
    __builtin_memcpy(&bits, &x, sizeof(T));
    return int32_t(x != x) | int32_t(bits == (Bits(1) << (8 * sizeof(T) - 1)));
}

// Pooling's reductions: max (a NaN wins and stays), or with NanFree the plain max (one
// instruction: ties keep the earlier value), and sum.
template <bool IsMax, typename T, bool NanFree = false>
inline T pool_reduce(T acc, T v) {
    if constexpr (IsMax && NanFree)
        return v > acc ? v : acc;
    else if constexpr (IsMax)
        return (v > acc || util::is_nan(v)) ? v : acc;
    else
        return acc + v;
}

#if defined(FASTCONV_VEC_AVX2)
// AVX2 (without AVX-512): the even and odd columns of consecutive cells split by in-lane
// shuffles, one lane-crossing permute per output vector to restore the order. GCC's own
// vectorisation of the stride-2 reads uses two lane-crossing permutes per input vector, which
// Zen 1 and Zen 2 run at a fraction of the rate: the 2x2 / stride-2 pools were compute-bound at
// 35% of the copy bandwidth on one EPYC Zen 1 core. AVX-512 keeps GCC's code (its two-source
// permutes are cheap).
// lo, hi: 2 * lanes consecutive cells; their even / odd cells in the lane order that in_order
// restores (64-bit blocks 0 2 1 3).
inline VecF32 even_cells(VecF32 lo, VecF32 hi) { return {_mm256_shuffle_ps(lo.v, hi.v, 0x88)}; }
inline VecF32 odd_cells(VecF32 lo, VecF32 hi) { return {_mm256_shuffle_ps(lo.v, hi.v, 0xDD)}; }
inline VecF32 in_order(VecF32 x) { return {_mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(x.v), 0xD8))}; }
inline VecF64 even_cells(VecF64 lo, VecF64 hi) { return {_mm256_unpacklo_pd(lo.v, hi.v)}; }
inline VecF64 odd_cells(VecF64 lo, VecF64 hi) { return {_mm256_unpackhi_pd(lo.v, hi.v)}; }
inline VecF64 in_order(VecF64 x) { return {_mm256_permute4x64_pd(x.v, 0xD8)}; }
// (v > acc) ? v : acc, as pool_reduce's plain max: maxps returns its second operand on ties
inline VecF32 max_earlier_kept(VecF32 acc, VecF32 v) { return {_mm256_max_ps(v.v, acc.v)}; }
inline VecF64 max_earlier_kept(VecF64 acc, VecF64 v) { return {_mm256_max_pd(v.v, acc.v)}; }
// all ones in the lanes where a or b is NaN, accumulated by either(); any() reads the flags
inline VecF32 unordered(VecF32 a, VecF32 b) { return {_mm256_cmp_ps(a.v, b.v, _CMP_UNORD_Q)}; }
inline VecF64 unordered(VecF64 a, VecF64 b) { return {_mm256_cmp_pd(a.v, b.v, _CMP_UNORD_Q)}; }
inline VecF32 either(VecF32 a, VecF32 b) { return {_mm256_or_ps(a.v, b.v)}; }
inline VecF64 either(VecF64 a, VecF64 b) { return {_mm256_or_pd(a.v, b.v)}; }
inline bool any(VecF32 a) { return _mm256_movemask_ps(a.v) != 0; }
inline bool any(VecF64 a) { return _mm256_movemask_pd(a.v) != 0; }

// The plain (NaN-free) max of each 2x2 / stride-2 window in torch's tap order (top pair, then
// bottom pair) for the whole vectors of a row: returns the outputs done, or -1 when a NaN was
// read (the caller redoes the row NaN-sticky).
template <typename T>
int64_t max_2x2_row_vectors(const T* top, const T* bottom, int64_t out_width, T* out) {
    using V = typename VecFor<T>::type;
    constexpr int L = V::lanes;
    V nan = V::zero();  // no lane flagged
    int64_t ow = 0;
    for (; ow + L <= out_width; ow += L) {
        const V t0 = V::load(top + 2 * ow), t1 = V::load(top + 2 * ow + L);
        const V b0 = V::load(bottom + 2 * ow), b1 = V::load(bottom + 2 * ow + L);
        const V a = even_cells(t0, t1), b = odd_cells(t0, t1), c = even_cells(b0, b1), d = odd_cells(b0, b1);
        const V best = max_earlier_kept(max_earlier_kept(max_earlier_kept(a, b), c), d);
        nan = either(nan, either(unordered(a, b), unordered(c, d)));
        in_order(best).store(out + ow);
    }
    return any(nan) ? -1 : ow;
}

// avg_2x2_row's sums in its order (each column's two rows, then the two columns) for the whole
// vectors of a row; a power-of-two divisor multiplies by its reciprocal (the same rounding).
template <typename T>
int64_t avg_2x2_row_vectors(const T* top, const T* bottom, int64_t out_width, int64_t divisor, T* out) {
    using V = typename VecFor<T>::type;
    constexpr int L = V::lanes;
    const bool power_of_two = divisor > 0 && (divisor & (divisor - 1)) == 0;
    const V scale = V::broadcast(power_of_two ? T(1) / T(divisor) : T(divisor));
    int64_t ow = 0;
    for (; ow + L <= out_width; ow += L) {
        const V s0 = add(V::load(top + 2 * ow), V::load(bottom + 2 * ow));
        const V s1 = add(V::load(top + 2 * ow + L), V::load(bottom + 2 * ow + L));
        const V sum = in_order(add(even_cells(s0, s1), odd_cells(s0, s1)));
        (power_of_two ? mul(sum, scale) : div(sum, scale)).store(out + ow);
    }
    return ow;
}

// reduce_narrow_window at stride 2 for the whole vectors of a row: the window's columns in its
// order (w[0], w[1], then w[2]); returns the outputs done.
template <bool IsMax, int Width, typename T>
int64_t reduce_pairs_vectors(const T* line, int64_t out_width, int64_t readable, T* out) {
    using V = typename VecFor<T>::type;
    constexpr int L = V::lanes;
    auto reduce = [](V acc, V v) { return IsMax ? max_earlier_kept(acc, v) : add(acc, v); };
    // a vector step loads line[2 ow, 2 ow + 2 L) (and [2 ow + 2, 2 ow + 2 L + 2) for 3 columns),
    // one cell past the last window when it reads the caller's row: only within `readable`
    constexpr int64_t reach = 2 * L + (Width == 3 ? 2 : 0);
    int64_t ow = 0;
    for (; ow + L <= out_width && 2 * ow + reach <= readable; ow += L) {
        const T* w = line + 2 * ow;
        const V lo = V::load(w), hi = V::load(w + L);
        V acc = reduce(even_cells(lo, hi), odd_cells(lo, hi));
        if constexpr (Width == 3) acc = reduce(acc, even_cells(V::load(w + 2), V::load(w + 2 + L)));
        in_order(acc).store(out + ow);
    }
    return ow;
}
#endif

// reduce_columns for an undilated window of Width (2 or 3) columns: all taps in one pass. The
// taps are written out, not looped: GCC does not vectorise a one-trip inner loop ("control flow
// in loop"), and the 2x2 / stride-2 max ran as a branch per output at 14-26% of the copy
// bandwidth.
template <bool IsMax, bool NanFree, int Step, int Width, typename T>
void reduce_narrow_window(const T* line, int64_t out_width, int64_t readable, T* out) {
    static_assert(Width == 2 || Width == 3, "narrow windows are 2 or 3 columns");
    int64_t ow = 0;
#if defined(FASTCONV_VEC_AVX2)
    if constexpr (Step == 2 && (NanFree || !IsMax))
        ow = reduce_pairs_vectors<IsMax, Width>(line, out_width, readable, out);
#else
    (void)readable;
#endif
    for (; ow < out_width; ++ow) {
        const T* w = line + ow * Step;
        T acc = pool_reduce<IsMax, T, NanFree>(w[0], w[1]);
        if constexpr (Width == 3) acc = pool_reduce<IsMax, T, NanFree>(acc, w[2]);
        out[ow] = acc;
    }
}

// out[ow] = the reduction of line[ow * Step + kw * dilation] over kw < kernel_width, ow < out_width
// (Step 0: runtime step). `line` holds every column the windows reach, the edges already filled.
template <bool IsMax, bool NanFree, int Step, typename T>
void reduce_columns(const T* line, int64_t step, int64_t out_width, int64_t kernel_width, int64_t dilation,
                    int64_t readable, T* out) {
    const int64_t s = Step ? Step : step;
    // The usual windows (2 or 3 wide, undilated): one pass over the outputs, not one per tap
    // (10-16% off a ResNet stem pool, measured); the taps still reduced in the same order.
    if constexpr (Step != 0) {
        if (dilation == 1 && kernel_width == 3)
            return reduce_narrow_window<IsMax, NanFree, Step, 3>(line, out_width, readable, out);
        if (dilation == 1 && kernel_width == 2)
            return reduce_narrow_window<IsMax, NanFree, Step, 2>(line, out_width, readable, out);
    }
    for (int64_t ow = 0; ow < out_width; ++ow) out[ow] = line[ow * s];
    for (int64_t kw = 1; kw < kernel_width; ++kw) {
        const T* tap = line + kw * dilation;
        for (int64_t ow = 0; ow < out_width; ++ow) out[ow] = pool_reduce<IsMax, T, NanFree>(out[ow], tap[ow * s]);
    }
}

// One output row of pool_nchw_by_lines: the window's input rows of `in` reduced into `inner`
// (line + pad_w), then its columns into `out`. With NanFree, max pooling uses the plain max and
// returns whether an input value was NaN or -0 (the caller then runs the row again with
// max_line_row_exact).
template <bool IsMax, bool NanFree, typename T>
void reduce_line(const Pool2dArgs<T>& a, const T* line, int64_t readable, T* out);

template <bool IsMax, bool NanFree, typename T>
bool pool_line_row(const Pool2dArgs<T>& a, const T* in, int64_t oh, T* line, int64_t interior, int64_t readable,
                   T identity, T* out) {
    const int64_t dilation_h = IsMax ? a.dilation_h : 1, dilation_w = IsMax ? a.dilation_w : 1;
    T* inner = line + a.pad_w;
    const T* rows[3];
    int count = 0;
    bool first = true;
    int32_t nan_seen = 0;
    for (int64_t kh = 0; kh < a.kernel_height; ++kh) {
        const int64_t ih = oh * a.stride_h - a.pad_h + kh * dilation_h;
        if (ih < 0 || ih >= a.in_height) continue;
        const T* row = in + ih * a.in_width;
        if (a.kernel_height <= 3) {  // up to three rows: gathered, then reduced in one pass below
            rows[count++] = row;
            continue;
        }
        if (first) {
            for (int64_t i = 0; i < interior; ++i) inner[i] = row[i];
        } else {
            for (int64_t i = 0; i < interior; ++i) inner[i] = pool_reduce<IsMax, T, NanFree>(inner[i], row[i]);
        }
        if constexpr (NanFree)
            for (int64_t i = 0; i < interior; ++i) nan_seen |= order_matters(row[i]);
        first = false;
    }
    // The rows the next output row reads that this one does not (stride rows further down), a
    // cache line at a time: by the time they are needed they are on their way from memory.
    if (count >= 2 && oh + 1 < a.out_height) {
        const T* plane_end = in + a.in_height * a.in_width;
        for (int k = 0; k < count; ++k) {
            const T* next = rows[k] + a.stride_h * a.in_width;
            if (next <= rows[count - 1] || next + interior > plane_end) continue;
            for (int64_t i = 0; i < interior; i += 64 / int64_t(sizeof(T))) FASTCONV_PREFETCH(next + i);
        }
    }
    if (count == 3) {
        const T *r0 = rows[0], *r1 = rows[1], *r2 = rows[2];
        for (int64_t i = 0; i < interior; ++i) {
            const T x = r0[i], y = r1[i], z = r2[i];
            inner[i] = pool_reduce<IsMax, T, NanFree>(pool_reduce<IsMax, T, NanFree>(x, y), z);
            if constexpr (NanFree) nan_seen |= order_matters(x) | order_matters(y) | order_matters(z);
        }
    } else if (count == 2) {
        const T *r0 = rows[0], *r1 = rows[1];
        for (int64_t i = 0; i < interior; ++i) {
            const T x = r0[i], y = r1[i];
            inner[i] = pool_reduce<IsMax, T, NanFree>(x, y);
            if constexpr (NanFree) nan_seen |= order_matters(x) | order_matters(y);
        }
    } else if (count == 1) {
        const T* r0 = rows[0];
        for (int64_t i = 0; i < interior; ++i) {
            inner[i] = r0[i];
            if constexpr (NanFree) nan_seen |= order_matters(r0[i]);
        }
    }
    first = first && count == 0;
    if (NanFree && nan_seen) return true;
    if (first)  // no input row in the window
        for (int64_t i = 0; i < interior; ++i) inner[i] = identity;
    reduce_line<IsMax, NanFree>(a, line, readable, out);
    return false;
}

// The line path's horizontal pass at the row's stride: out[ow] = the window's columns of `line`
// reduced, line[i] standing for column i - pad_w; `readable` cells from `line` may be loaded.
template <bool IsMax, bool NanFree, typename T>
void reduce_line(const Pool2dArgs<T>& a, const T* line, int64_t readable, T* out) {
    const int64_t dilation_w = IsMax ? a.dilation_w : 1;
    if (a.stride_w == 1)
        reduce_columns<IsMax, NanFree, 1>(line, 1, a.out_width, a.kernel_width, dilation_w, readable, out);
    else if (a.stride_w == 2)
        reduce_columns<IsMax, NanFree, 2>(line, 2, a.out_width, a.kernel_width, dilation_w, readable, out);
    else
        reduce_columns<IsMax, NanFree, 0>(line, a.stride_w, a.out_width, a.kernel_width, dilation_w, readable, out);
}

// One output row of a max pool (values) exactly as torch takes the taps: each window row's
// columns first (its first maximum, a NaN winning and staying), then the rows, an earlier row
// kept on ties; so a tie of -0 and +0 gives torch's sign. For the rows pool_line_row<true, true>
// sends back (a NaN or a -0 among the inputs). A row is read in place when no window reaches
// outside it, else copied into `line` between its -inf edges. `scratch`: out_width cells.
template <typename T>
void max_line_row_exact(const Pool2dArgs<T>& a, const T* in, int64_t oh, T* line, int64_t line_width,
                        int64_t interior, T* scratch, T* out) {
    const bool in_place = a.pad_w == 0 && line_width <= a.in_width;
    bool first = true;
    for (int64_t kh = 0; kh < a.kernel_height; ++kh) {
        const int64_t ih = oh * a.stride_h - a.pad_h + kh * a.dilation_h;
        if (ih < 0 || ih >= a.in_height) continue;
        const T* row = in + ih * a.in_width;
        const T* source = row;
        int64_t readable = a.in_width;
        if (!in_place) {
            T* inner = line + a.pad_w;
            for (int64_t i = 0; i < interior; ++i) inner[i] = row[i];
            source = line;
            readable = line_width;
        }
        reduce_line<true, false>(a, source, readable, first ? out : scratch);
        if (!first)
            for (int64_t ow = 0; ow < a.out_width; ++ow) out[ow] = pool_reduce<true, T>(out[ow], scratch[ow]);
        first = false;
    }
    if (first)  // no input row in the window
        for (int64_t ow = 0; ow < a.out_width; ++ow) out[ow] = -std::numeric_limits<T>::infinity();
}

// One output row of a 2x2 / stride-2 max pool read straight from its two input rows, no line
// between: the plain max in torch's tap order (rows, then columns), and a sum of the four cells
// per output whose NaN (a NaN input, or inf - inf) sends the row back to the exact path. Returns
// whether the row is done; the caller then runs the NaN-sticky version (NanFree false). Half the line path's time on a cached plane and 1.4-2.0 ms against
// 2.0-3.4 ms cold for 8x64x112x112 float32 on one EPYC Zen 4 core (the line path's write and
// re-read of the line, and its NaN compares per input, were the compute the memory stalls did
// not hide).
template <bool NanFree, typename T>
bool max_2x2_row(const T* top, int64_t width, int64_t out_width, T* out) {
    const T* bottom = top + width;
    int32_t nan_seen = 0;  // an integer OR: a float sum across the loop would not vectorise
    int64_t ow = 0;
#if defined(FASTCONV_VEC_AVX2)
    if constexpr (NanFree) {
        ow = max_2x2_row_vectors(top, bottom, out_width, out);
        if (ow < 0) return false;
    }
#endif
    for (; ow < out_width; ++ow) {
        const T a = top[2 * ow], b = top[2 * ow + 1], c = bottom[2 * ow], d = bottom[2 * ow + 1];
        T best = pool_reduce<true, T, NanFree>(a, b);
        best = pool_reduce<true, T, NanFree>(best, c);
        best = pool_reduce<true, T, NanFree>(best, d);
        out[ow] = best;
        if constexpr (NanFree) {
            const T sum = (a + b) + (c + d);
            nan_seen |= sum != sum;
        }
    }
    return !nan_seen;
}

// The average of a 2x2 / stride-2 window read straight from its two input rows, summed as the
// line path sums it (each column's two rows, then the two columns), so the results are the same.
template <typename T>
void avg_2x2_row(const T* top, int64_t width, int64_t out_width, int64_t divisor_count, T* out) {
    const T* bottom = top + width;
    const T divisor = T(divisor_count);
    int64_t ow = 0;
#if defined(FASTCONV_VEC_AVX2)
    ow = avg_2x2_row_vectors(top, bottom, out_width, divisor_count, out);
#endif
    for (; ow < out_width; ++ow) {
        const T left = top[2 * ow] + bottom[2 * ow], right = top[2 * ow + 1] + bottom[2 * ow + 1];
        out[ow] = (left + right) / divisor;
    }
}

// NCHW, values only (max without indices, and average): each output row first reduces its
// window's input rows into one line (contiguous passes), extended by the identity (-inf for max,
// 0 for the sum) over the padding, then reduces the window's columns across that line: KH + KW
// passes per output row instead of KH * KW strided ones, no edge tests in the loops.
template <bool IsMax, typename T>
void pool_nchw_by_lines(const Pool2dArgs<T>& a) {
    const T identity = IsMax ? -std::numeric_limits<T>::infinity() : T(0);
    const int64_t in_plane = a.in_height * a.in_width;
    const int64_t out_plane = a.out_height * a.out_width;
    const int64_t dilation_w = IsMax ? a.dilation_w : 1;
    // line[i] stands for input column i - pad_w
    const int64_t line_width = (a.out_width - 1) * a.stride_w + (a.kernel_width - 1) * dilation_w + 1;
    const int64_t interior = util::max_i64(0, util::min_i64(a.in_width, line_width - a.pad_w));
    const int threads = a.num_threads;
    const int64_t jobs = a.batch * a.channels;
    bool failed = false;
    // 2x2 / stride 2 without padding, both window rows inside the plane: max_2x2_row, avg_2x2_row
    const bool fused_2x2 = a.kernel_height == 2 && a.kernel_width == 2 && a.stride_h == 2 && a.stride_w == 2 &&
                           a.pad_h == 0 && a.pad_w == 0 && a.dilation_h == 1 && a.dilation_w == 1 &&
                           2 * a.out_height <= a.in_height && 2 * a.out_width <= a.in_width;
    FASTCONV_PARALLEL_FOR_JOBS_DYNAMIC
    for (int64_t job = 0; job < jobs; ++job) {
        // the line, then out_width cells (average: the column divisors; max: a row's partial result)
        T* line = static_cast<T*>(std::malloc(static_cast<size_t>(line_width + a.out_width) * sizeof(T)));
        if (!line) {
#if defined(FASTCONV_OPENMP)
#pragma omp atomic write
#endif
            failed = true;
            continue;
        }
        const T* in = a.input + job * in_plane;
        if constexpr (!IsMax) {
            for (int64_t ow = 0; ow < a.out_width; ++ow) {
                const int64_t counted =
                    avg_span(ow, a.stride_w, a.pad_w, a.kernel_width, a.in_width, a.count_include_pad).counted;
                line[line_width + ow] = a.divisor_override ? T(1) : T(util::max_i64(counted, 1));
            }
        }
        for (int64_t i = 0; i < a.pad_w && i < line_width; ++i) line[i] = identity;
        for (int64_t i = a.pad_w + interior; i < line_width; ++i) line[i] = identity;
        for (int64_t oh = 0; oh < a.out_height; ++oh) {
            T* out = a.output + job * out_plane + oh * a.out_width;
            if (fused_2x2) {
                const T* top = in + 2 * oh * a.in_width;
                if constexpr (IsMax) {
                    if (!max_2x2_row<true>(top, a.in_width, a.out_width, out))
                        max_2x2_row<false>(top, a.in_width, a.out_width, out);
                } else {
                    // the line path's sums (rows, then columns) and divisor (2 x 2, or the override)
                    avg_2x2_row(top, a.in_width, a.out_width, a.divisor_override ? a.divisor_override : 4, out);
                }
                continue;
            }
            if constexpr (IsMax) {
                // rows first, the plain max; a row whose inputs hold a NaN or a -0 (where the order
                // of the taps shows) again, as torch takes the taps
                if (pool_line_row<true, true>(a, in, oh, line, interior, line_width + a.out_width, identity, out))
                    max_line_row_exact(a, in, oh, line, line_width, interior, line + line_width, out);
            } else {
                pool_line_row<IsMax, false>(a, in, oh, line, interior, line_width + a.out_width, identity, out);
            }
            if constexpr (!IsMax) {
                // divisor = a row part times a column part (see avg_window); a window without an
                // input cell summed only the identity, 0, and any non-zero divisor leaves it 0
                const int64_t row_counted =
                    avg_span(oh, a.stride_h, a.pad_h, a.kernel_height, a.in_height, a.count_include_pad).counted;
                const T row_part = T(a.divisor_override ? a.divisor_override : util::max_i64(row_counted, 1));
                const T* columns = line + line_width;
                for (int64_t ow = 0; ow < a.out_width; ++ow) out[ow] = out[ow] / (row_part * columns[ow]);
            }
        }
        std::free(line);
    }
    if (failed) throw std::bad_alloc();
}

// max_pool2d with indices, output columns [col_lo, col_hi) of output row `oh` of one plane:
// the window's taps in torch's order (rows, then columns), each a pass over the columns.
template <typename T>
void max_row_by_taps(const Pool2dArgs<T>& a, const T* in, int64_t oh, int64_t col_lo, int64_t col_hi, T* best,
                     int64_t* best_index) {
    if (col_lo >= col_hi) return;
    for (int64_t ow = col_lo; ow < col_hi; ++ow) {
        best[ow] = -std::numeric_limits<T>::infinity();
        const Window win = max_window(a, oh, ow);
        best_index[ow] = win.h_begin * a.in_width + win.w_begin;
    }
    for (int64_t kh = 0; kh < a.kernel_height; ++kh) {
        const int64_t ih = oh * a.stride_h - a.pad_h + kh * a.dilation_h;
        if (ih < 0 || ih >= a.in_height) continue;
        for (int64_t kw = 0; kw < a.kernel_width; ++kw) {
            const int64_t offset = kw * a.dilation_w - a.pad_w;  // iw = ow * sw + offset
            int64_t lo, hi;
            util::valid_output_range(offset, a.stride_w, a.in_width, a.out_width, &lo, &hi);
            max_tap(in + ih * a.in_width, ih * a.in_width, a.stride_w, offset, util::max_i64(lo, col_lo),
                    util::min_i64(hi, col_hi), best, best_index);
        }
    }
}

// One output row's columns [lo, hi), every window inside the row: Rows input rows (the window's
// rows inside the plane) x Width columns, taps in torch's order, best and index in registers.
template <int Rows, int Width, int Step, typename T>
void max_columns_fused(const T* const* rows, const int64_t* row_starts, int64_t offset, int64_t lo, int64_t hi,
                       T* best, int64_t* best_index) {
    // local copies: loads through `rows` inside the loop could alias the stores (not vectorised)
    const T* row[Rows];
    int64_t start[Rows];
#pragma GCC unroll 3
    for (int r = 0; r < Rows; ++r) {
        row[r] = rows[r] + offset;
        start[r] = row_starts[r] + offset;
    }
    for (int64_t ow = lo; ow < hi; ++ow) {
        const int64_t column = ow * Step;
        T value = row[0][column];
        int64_t index = start[0] + column;
#pragma GCC unroll 3
        for (int r = 0; r < Rows; ++r) {
#pragma GCC unroll 3
            for (int kw = (r == 0 ? 1 : 0); kw < Width; ++kw) {
                const T v = row[r][column + kw];
                const bool take = v > value || util::is_nan(v);
                value = take ? v : value;
                index = take ? start[r] + column + kw : index;
            }
        }
        best[ow] = value;
        best_index[ow] = index;
    }
}

template <int Rows, int Width, typename T>
void max_columns_fused_step(int64_t step, const T* const* rows, const int64_t* row_starts, int64_t offset,
                            int64_t lo, int64_t hi, T* best, int64_t* best_index) {
    if (step == 1)
        max_columns_fused<Rows, Width, 1>(rows, row_starts, offset, lo, hi, best, best_index);
    else
        max_columns_fused<Rows, Width, 2>(rows, row_starts, offset, lo, hi, best, best_index);
}

template <typename T>
void max_row_fused_taps(const Pool2dArgs<T>& a, const T* in, int64_t oh, int64_t lo, int64_t hi, T* best,
                        int64_t* best_index) {
    const T* rows[3];
    int64_t row_starts[3];
    int count = 0;
    for (int64_t kh = 0; kh < a.kernel_height; ++kh) {
        const int64_t ih = oh * a.stride_h - a.pad_h + kh * a.dilation_h;
        if (ih < 0 || ih >= a.in_height) continue;
        rows[count] = in + ih * a.in_width;
        row_starts[count++] = ih * a.in_width;
    }
    if (count == 0) {  // torch: no input row, -inf at the window's first cell
        max_row_by_taps(a, in, oh, lo, hi, best, best_index);
        return;
    }
    const int64_t offset = -a.pad_w;
    const int64_t step = a.stride_w;
    if (a.kernel_width == 2) {
        if (count == 1) max_columns_fused_step<1, 2>(step, rows, row_starts, offset, lo, hi, best, best_index);
        if (count == 2) max_columns_fused_step<2, 2>(step, rows, row_starts, offset, lo, hi, best, best_index);
        if (count == 3) max_columns_fused_step<3, 2>(step, rows, row_starts, offset, lo, hi, best, best_index);
    } else {
        if (count == 1) max_columns_fused_step<1, 3>(step, rows, row_starts, offset, lo, hi, best, best_index);
        if (count == 2) max_columns_fused_step<2, 3>(step, rows, row_starts, offset, lo, hi, best, best_index);
        if (count == 3) max_columns_fused_step<3, 3>(step, rows, row_starts, offset, lo, hi, best, best_index);
    }
}

template <typename T>
void max_pool2d_impl(const Pool2dArgs<T>& a) {
    const T neg_inf = -std::numeric_limits<T>::infinity();
    const int64_t in_plane = a.in_height * a.in_width;
    const int64_t out_plane = a.out_height * a.out_width;
    const int threads = a.num_threads;
    if (!a.nhwc && !a.indices) {
        pool_nchw_by_lines<true>(a);
        return;
    }
    if (!a.nhwc) {
        // Output row by output row. Columns whose windows lie inside the row, for the usual
        // windows (up to 3 x 3, undilated columns, stride 1 or 2): all taps per output in one
        // pass, the running best and its index in registers (2x2/2 with indices: 4 passes over
        // the row's values and indices cost 3.5x the values-only time). Other columns: the taps
        // in torch's order, each a pass over the row's outputs the compiler vectorises.
        const int64_t jobs = a.batch * a.channels;
        const bool fused = a.kernel_height <= 3 && a.dilation_w == 1 && (a.kernel_width == 2 || a.kernel_width == 3) &&
                           (a.stride_w == 1 || a.stride_w == 2);
        int64_t inner_lo = 0, inner_hi = 0;  // output columns whose windows are inside the row
        if (fused) {
            inner_lo = util::min_i64(a.out_width, (a.pad_w + a.stride_w - 1) / a.stride_w);
            const int64_t last_start = a.in_width - a.kernel_width + a.pad_w;  // ow * sw <= last_start
            inner_hi = last_start < 0 ? 0 : util::min_i64(a.out_width, last_start / a.stride_w + 1);
            if (inner_hi < inner_lo) inner_hi = inner_lo;
        }
        FASTCONV_PARALLEL_FOR_JOBS
        for (int64_t job = 0; job < jobs; ++job) {
            const T* in = a.input + job * in_plane;
            for (int64_t oh = 0; oh < a.out_height; ++oh) {
                T* best = a.output + job * out_plane + oh * a.out_width;
                int64_t* best_index = a.indices + job * out_plane + oh * a.out_width;
                if (inner_lo < inner_hi) max_row_fused_taps(a, in, oh, inner_lo, inner_hi, best, best_index);
                max_row_by_taps(a, in, oh, 0, inner_lo, best, best_index);
                max_row_by_taps(a, in, oh, inner_hi, a.out_width, best, best_index);
            }
        }
        return;
    }
    const int64_t jobs = a.batch * a.out_height;
    const int64_t C = a.channels;
    FASTCONV_PARALLEL_FOR_JOBS
    for (int64_t job = 0; job < jobs; ++job) {
        const int64_t n = job / a.out_height;
        const int64_t oh = job % a.out_height;
        const T* image = a.input + n * in_plane * C;
        for (int64_t ow = 0; ow < a.out_width; ++ow) {
            const int64_t o = (job * a.out_width + ow) * C;
            T* out = a.output + o;
            int64_t* idx = a.indices ? a.indices + o : nullptr;
            const Window win = max_window(a, oh, ow);
            const int64_t first = win.h_begin * a.in_width + win.w_begin;
            int64_t c0 = 0;
            if (!idx) {  // values only: channels in blocks the compiler keeps in registers across the window
                constexpr int64_t block = 64;
                for (; c0 + block <= C; c0 += block) {
                    T best[block];
                    for (int64_t c = 0; c < block; ++c) best[c] = neg_inf;
                    for (int64_t ih = win.h_begin; ih < win.h_end; ih += a.dilation_h)
                        for (int64_t iw = win.w_begin; iw < win.w_end; iw += a.dilation_w) {
                            const T* pixel = image + (ih * a.in_width + iw) * C + c0;
                            for (int64_t c = 0; c < block; ++c) best[c] = pool_reduce<true>(best[c], pixel[c]);
                        }
                    for (int64_t c = 0; c < block; ++c) out[c0 + c] = best[c];
                }
                if (c0 == C) continue;
            }
            for (int64_t c = c0; c < C; ++c) out[c] = neg_inf;
            if (idx)
                for (int64_t c = 0; c < C; ++c) idx[c] = first;
            for (int64_t ih = win.h_begin; ih < win.h_end; ih += a.dilation_h) {
                for (int64_t iw = win.w_begin; iw < win.w_end; iw += a.dilation_w) {
                    const int64_t cell = ih * a.in_width + iw;
                    const T* pixel = image + cell * C;
                    if (idx) {
                        for (int64_t c = 0; c < C; ++c) {
                            const T v = pixel[c];
                            const bool take = v > out[c] || util::is_nan(v);
                            out[c] = take ? v : out[c];
                            idx[c] = take ? cell : idx[c];
                        }
                    } else {
                        for (int64_t c = c0; c < C; ++c) out[c] = pool_reduce<true>(out[c], pixel[c]);
                    }
                }
            }
        }
    }
}

template <typename T>
void avg_pool2d_impl(const Pool2dArgs<T>& a) {
    const int64_t in_plane = a.in_height * a.in_width;
    const int threads = a.num_threads;
    if (!a.nhwc) {
        pool_nchw_by_lines<false>(a);
        return;
    }
    const int64_t jobs = a.batch * a.out_height;
    const int64_t C = a.channels;
    FASTCONV_PARALLEL_FOR_JOBS
    for (int64_t job = 0; job < jobs; ++job) {
        const int64_t n = job / a.out_height;
        const int64_t oh = job % a.out_height;
        const T* image = a.input + n * in_plane * C;
        for (int64_t ow = 0; ow < a.out_width; ++ow) {
            T* out = a.output + (job * a.out_width + ow) * C;
            const AvgWindow win = avg_window(a, oh, ow);
            if (!win.divisor) {
                for (int64_t c = 0; c < C; ++c) out[c] = T(0);
                continue;
            }
            const T divisor = T(win.divisor);
            // channels in blocks the compiler keeps in registers across the window's cells
            constexpr int64_t block = 64;
            int64_t c0 = 0;
            for (; c0 + block <= C; c0 += block) {
                T sum[block] = {};
                for (int64_t ih = win.h_begin; ih < win.h_end; ++ih)
                    for (int64_t iw = win.w_begin; iw < win.w_end; ++iw) {
                        const T* pixel = image + (ih * a.in_width + iw) * C + c0;
                        for (int64_t c = 0; c < block; ++c) sum[c] += pixel[c];
                    }
                for (int64_t c = 0; c < block; ++c) out[c0 + c] = sum[c] / divisor;
            }
            if (c0 < C) {
                for (int64_t c = c0; c < C; ++c) out[c] = T(0);
                for (int64_t ih = win.h_begin; ih < win.h_end; ++ih)
                    for (int64_t iw = win.w_begin; iw < win.w_end; ++iw) {
                        const T* pixel = image + (ih * a.in_width + iw) * C;
                        for (int64_t c = c0; c < C; ++c) out[c] += pixel[c];
                    }
                for (int64_t c = c0; c < C; ++c) out[c] /= divisor;
            }
        }
    }
}

}  // namespace

void max_pool2d_f32(const Pool2dArgs<float>& a) { max_pool2d_impl(a); }
void max_pool2d_f64(const Pool2dArgs<double>& a) { max_pool2d_impl(a); }
void avg_pool2d_f32(const Pool2dArgs<float>& a) { avg_pool2d_impl(a); }
void avg_pool2d_f64(const Pool2dArgs<double>& a) { avg_pool2d_impl(a); }

}  // namespace FASTCONV_ISA
}  // namespace fastconv
