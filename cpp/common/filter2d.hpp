// filter2d kernels (Filter2dArgs in params.hpp). Included once per ISA by filter2d_<isa>.cpp,
// which defines FASTCONV_ISA and the vector macro (common/vec.hpp).
//
// As OpenCV's FilterEngine does: a job (one plane, one band of output rows) keeps a ring of the
// KH input rows the current output row needs, each converted to T and extended by the border to
// the padded width, so that no inner loop ever tests for an edge and no padded copy of the whole
// image is made. An output row is then KH * KW broadcast taps times contiguous loads (with
// interleaved channels a tap moves C elements). Separable kernels keep a second ring of rows
// already filtered horizontally, and an output row is KH taps down that ring. Integer results
// are rounded half to even and saturated; a float sum that lies too close to x.5 for its
// rounding error to be ignored is summed again in double.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <type_traits>

#include "common/params.hpp"
#include "common/util.hpp"
#include "common/vec.hpp"

#ifndef FASTCONV_ISA
#error "define FASTCONV_ISA before including filter2d.hpp"
#endif

namespace fastconv {
namespace FASTCONV_ISA {
namespace {

// The input cell that stands at x (any integer) beyond an edge of n cells; -1 for the constant border.
inline int64_t border_index(int64_t x, int64_t n, Border border) {
    if (x >= 0 && x < n) return x;
    switch (border) {
        case Border::constant:
            return -1;
        case Border::nearest:
            return x < 0 ? 0 : n - 1;
        case Border::reflect: {  // ba|abcd|dc: period 2n
            const int64_t period = 2 * n;
            int64_t m = x % period;
            if (m < 0) m += period;
            return m < n ? m : period - 1 - m;
        }
        case Border::mirror: {  // cb|abcd|cb: period 2n - 2
            if (n == 1) return 0;
            const int64_t period = 2 * n - 2;
            int64_t m = x % period;
            if (m < 0) m += period;
            return m < n ? m : period - m;
        }
        case Border::wrap: {
            int64_t m = x % n;
            return m < 0 ? m + n : m;
        }
    }
    return -1;
}

// Input row `input_row` (any integer) of `plane`, converted to T and extended left and right by
// the border: padded_width cells of C channels, cell i standing at input column i - pad_left.
template <typename In, typename T>
void load_row(const Filter2dArgs<T>& a, const In* plane, int64_t input_row, int64_t padded_width, T* row) {
    const int64_t channels = a.channels;
    const int64_t source_row = border_index(input_row, a.height, a.border);
    if (source_row < 0) {
        for (int64_t i = 0; i < padded_width * channels; ++i) row[i] = a.cval;
        return;
    }
    const In* source = plane + source_row * a.row_stride;
    T* interior = row + a.pad_left * channels;
    if (a.column_stride == channels && (channels == 1 || a.channel_stride == 1)) {  // a plain row
        for (int64_t i = 0; i < a.width * channels; ++i) interior[i] = static_cast<T>(source[i]);
    } else {
        for (int64_t x = 0; x < a.width; ++x)
            for (int64_t c = 0; c < channels; ++c)
                interior[x * channels + c] = static_cast<T>(source[x * a.column_stride + c * a.channel_stride]);
    }
    for (int64_t i = 0; i < padded_width; ++i) {
        const int64_t x = i - a.pad_left;
        if (x >= 0 && x < a.width) {
            i = a.pad_left + a.width - 1;  // skip the interior
            continue;
        }
        const int64_t source_column = border_index(x, a.width, a.border);
        for (int64_t c = 0; c < channels; ++c)
            row[i * channels + c] = source_column < 0 ? a.cval : interior[source_column * channels + c];
    }
}

// out[j] = sum over r < KH, c < KW of taps[r * KW + c] * rows[r][j + c * step], for j < n; reads
// rows[r][0 .. n + (KW - 1) * step), never beyond. With FixedH, FixedW > 0 the kernel size is a
// compile-time constant and the taps are held in registers; with 0 they are broadcast as used.
template <typename V, int FixedH, int FixedW>
void taps_row_sized(const typename V::T* const* rows, const typename V::T* taps, int64_t kernel_height,
                    int64_t kernel_width, int64_t step, int64_t n, typename V::T* out) {
    using T = typename V::T;
    constexpr int lanes = V::lanes;
    constexpr bool fixed = FixedH > 0 && FixedW > 0;
    const int64_t kh = fixed ? FixedH : kernel_height, kw = fixed ? FixedW : kernel_width;
    V held[fixed ? FixedH * FixedW : 1];
    if constexpr (fixed)
        for (int t = 0; t < FixedH * FixedW; ++t) held[t] = V::broadcast(taps[t]);
    auto weight = [&](int64_t t) {
        if constexpr (fixed)
            return held[t];
        else
            return V::broadcast(taps[t]);
    };
    int64_t j = 0;
    for (; j + 4 * lanes <= n; j += 4 * lanes) {
        V a0 = V::zero(), a1 = V::zero(), a2 = V::zero(), a3 = V::zero();
        for (int64_t r = 0; r < kh; ++r)
            for (int64_t c = 0; c < kw; ++c) {
                const T* p = rows[r] + j + c * step;
                const V w = weight(r * kw + c);
                a0 = V::fma(V::load(p), w, a0);
                a1 = V::fma(V::load(p + lanes), w, a1);
                a2 = V::fma(V::load(p + 2 * lanes), w, a2);
                a3 = V::fma(V::load(p + 3 * lanes), w, a3);
            }
        a0.store(out + j);
        a1.store(out + j + lanes);
        a2.store(out + j + 2 * lanes);
        a3.store(out + j + 3 * lanes);
    }
    for (; j < n; j += lanes) {
        const int m = static_cast<int>(util::min_i64(lanes, n - j));
        V acc = V::zero();
        for (int64_t r = 0; r < kh; ++r)
            for (int64_t c = 0; c < kw; ++c) acc = V::fma(V::load_first(rows[r] + j + c * step, m), weight(r * kw + c), acc);
        acc.store_first(out + j, m);
    }
}

template <typename V>
void taps_row(const typename V::T* const* rows, const typename V::T* taps, int64_t kernel_height,
              int64_t kernel_width, int64_t step, int64_t n, typename V::T* out) {
    switch (kernel_height * 100 + kernel_width) {
        case 303: return taps_row_sized<V, 3, 3>(rows, taps, 3, 3, step, n, out);
        case 505: return taps_row_sized<V, 5, 5>(rows, taps, 5, 5, step, n, out);
        case 103: return taps_row_sized<V, 1, 3>(rows, taps, 1, 3, step, n, out);
        case 105: return taps_row_sized<V, 1, 5>(rows, taps, 1, 5, step, n, out);
        case 301: return taps_row_sized<V, 3, 1>(rows, taps, 3, 1, step, n, out);
        case 501: return taps_row_sized<V, 5, 1>(rows, taps, 5, 1, step, n, out);
        default: return taps_row_sized<V, 0, 0>(rows, taps, kernel_height, kernel_width, step, n, out);
    }
}

// Round half to even for |v| < 2^22 (float) / 2^51 (double), in the default rounding mode,
// without a libm call so that the loops below vectorise on every ISA.
template <typename T>
inline T round_even(T v) {
    const T magic = std::numeric_limits<T>::digits == 24 ? T(12582912.0) : T(6755399441055744.0);
    return (v + magic) - magic;
}

// A sum clamped to Out's range (NaN as 0), still in T: rounding it to nearest then gives the
// saturated result, and a clamped value is whole, so the saturating ends never look like ties.
template <typename Out, typename T>
inline T clamp_to(T v) {
    const T low = static_cast<T>(std::numeric_limits<Out>::min());
    const T high = static_cast<T>(std::numeric_limits<Out>::max());
    v = v == v ? v : T(0);
    v = v > low ? v : low;
    return v < high ? v : high;
}

// A job's working rows, carved from one allocation: ring slot s holds virtual row tags[s].
template <typename T>
struct Rings {
    void* memory = nullptr;
    int64_t* tags = nullptr;          // [KH]
    const T** padded_rows = nullptr;  // [KH] this output row's padded input rows, in kernel order
    const T** filtered_rows = nullptr;
    T* padded = nullptr;              // KH slots of padded_pitch
    T* filtered = nullptr;            // separable: KH slots of row_pitch
    T* result = nullptr;              // one output row in T (when the output is of another type)
    int64_t padded_pitch = 0, row_pitch = 0;
};

inline int64_t round_up(int64_t value, int64_t multiple) { return (value + multiple - 1) / multiple * multiple; }

template <typename T>
bool allocate_rings(const Filter2dArgs<T>& a, Rings<T>* rings) {
    const int64_t kh = a.kernel_height;
    const int64_t per_line = 64 / static_cast<int64_t>(sizeof(T));
    rings->padded_pitch = round_up((a.out_width + a.kernel_width - 1) * a.channels, per_line);
    rings->row_pitch = round_up(a.out_width * a.channels, per_line);
    const int64_t pointers = round_up(3 * kh, 8);
    const int64_t values = kh * rings->padded_pitch + (a.row_taps ? kh * rings->row_pitch : 0) + rings->row_pitch;
    rings->memory = std::malloc(static_cast<size_t>(pointers * 8 + values * static_cast<int64_t>(sizeof(T)) + 64));
    if (!rings->memory) return false;
    char* base = static_cast<char*>(rings->memory);
    rings->tags = reinterpret_cast<int64_t*>(base);
    rings->padded_rows = reinterpret_cast<const T**>(base + kh * 8);
    rings->filtered_rows = reinterpret_cast<const T**>(base + 2 * kh * 8);
    const uintptr_t start = reinterpret_cast<uintptr_t>(base + pointers * 8);
    T* values_start = reinterpret_cast<T*>((start + 63) & ~uintptr_t(63));
    rings->padded = values_start;
    rings->filtered = rings->padded + kh * rings->padded_pitch;
    rings->result = rings->filtered + (a.row_taps ? kh * rings->row_pitch : 0);
    for (int64_t s = 0; s < kh; ++s) rings->tags[s] = -1;
    return true;
}

// Output element j of the current row summed again in double from the padded input rows, tap by
// tap in kernel order with each product rounded (volatile: never contracted into an FMA), as the
// reference backend sums: the two agree to the last bit.
template <typename T>
double exact_sum(const Filter2dArgs<T>& a, const T* const* padded_rows, int64_t j) {
    double sum = 0;
    for (int64_t r = 0; r < a.kernel_height; ++r)
        for (int64_t c = 0; c < a.kernel_width; ++c) {
            volatile double product =
                a.kernel_f64[r * a.kernel_width + c] * static_cast<double>(padded_rows[r][j + c * a.channels]);
            sum += product;
        }
    return sum;
}

// Rounds (half to even) and saturates values[0, n) into out; NaN gives 0. Returns whether some
// value lay at least near_half from its rounded result, i.e. so close to x.5 that T's rounding
// error may have decided it. Plain loop: the baseline, and double sums.
template <typename Out, typename T>
int32_t round_saturate(const T* values, int64_t n, Out* out, T near_half) {
    int32_t suspects = 0;
    for (int64_t j = 0; j < n; ++j) {
        const T v = clamp_to<Out>(values[j]);
        const T rounded = round_even(v);
        out[j] = static_cast<Out>(static_cast<int32_t>(rounded));
        suspects |= std::fabs(v - rounded) >= near_half ? 1 : 0;
    }
    return suspects;
}

#if defined(FASTCONV_VEC_AVX512) || defined(FASTCONV_VEC_AVX2)
// float sums: the same in vectors (compilers make a poor job of the narrowing stores). The
// rounding adds 1.5 * 2^23: the sum's integer is then the low bits of the float's pattern.
template <typename Out>
int32_t round_saturate(const float* values, int64_t n, Out* out, float near_half) {
    constexpr float magic = 12582912.0f;
    constexpr int32_t magic_bits = 0x4B400000;
    const float low = static_cast<float>(std::numeric_limits<Out>::min());
    const float high = static_cast<float>(std::numeric_limits<Out>::max());
    int32_t suspects = 0;
    int64_t j = 0;
#if defined(FASTCONV_VEC_AVX512)
    const __m512 vlow = _mm512_set1_ps(low), vhigh = _mm512_set1_ps(high), vmagic = _mm512_set1_ps(magic);
    const __m512 limit = _mm512_set1_ps(near_half);
    __mmask16 near = 0;
    for (; j + 16 <= n; j += 16) {
        __m512 v = _mm512_loadu_ps(values + j);
        v = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, v, _CMP_ORD_Q), v);  // NaN -> 0
        v = _mm512_min_ps(_mm512_max_ps(v, vlow), vhigh);
        const __m512 shifted = _mm512_add_ps(v, vmagic);
        const __m512 distance = _mm512_abs_ps(_mm512_sub_ps(v, _mm512_sub_ps(shifted, vmagic)));
        near |= _mm512_cmp_ps_mask(distance, limit, _CMP_GE_OQ);
        const __m512i whole = _mm512_sub_epi32(_mm512_castps_si512(shifted), _mm512_set1_epi32(magic_bits));
        if constexpr (sizeof(Out) == 1)
            _mm_storeu_si128(reinterpret_cast<__m128i*>(out + j), _mm512_cvtepi32_epi8(whole));
        else
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + j), _mm512_cvtepi32_epi16(whole));
    }
    suspects = near != 0;
#else
    const __m256 vlow = _mm256_set1_ps(low), vhigh = _mm256_set1_ps(high), vmagic = _mm256_set1_ps(magic);
    const __m256 limit = _mm256_set1_ps(near_half);
    const __m256 magnitude = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 near = _mm256_setzero_ps();
    for (; j + 8 <= n; j += 8) {
        __m256 v = _mm256_loadu_ps(values + j);
        v = _mm256_and_ps(v, _mm256_cmp_ps(v, v, _CMP_ORD_Q));  // NaN -> 0
        v = _mm256_min_ps(_mm256_max_ps(v, vlow), vhigh);
        const __m256 shifted = _mm256_add_ps(v, vmagic);
        const __m256 distance = _mm256_and_ps(_mm256_sub_ps(v, _mm256_sub_ps(shifted, vmagic)), magnitude);
        near = _mm256_or_ps(near, _mm256_cmp_ps(distance, limit, _CMP_GE_OQ));
        const __m256i whole = _mm256_sub_epi32(_mm256_castps_si256(shifted), _mm256_set1_epi32(magic_bits));
        const __m128i first = _mm256_castsi256_si128(whole), second = _mm256_extracti128_si256(whole, 1);
        if constexpr (std::is_same_v<Out, int16_t>) {
            _mm_storeu_si128(reinterpret_cast<__m128i*>(out + j), _mm_packs_epi32(first, second));
        } else {
            const __m128i words = _mm_packus_epi32(first, second);  // in range already: no saturation
            if constexpr (sizeof(Out) == 1)
                _mm_storel_epi64(reinterpret_cast<__m128i*>(out + j), _mm_packus_epi16(words, words));
            else
                _mm_storeu_si128(reinterpret_cast<__m128i*>(out + j), words);
        }
    }
    suspects = _mm256_movemask_ps(near) != 0;
#endif
    for (; j < n; ++j) {
        const float v = clamp_to<Out>(values[j]);
        const float rounded = round_even(v);
        out[j] = static_cast<Out>(static_cast<int32_t>(rounded));
        suspects |= std::fabs(v - rounded) >= near_half ? 1 : 0;
    }
    return suspects;
}
#endif

template <typename Out, typename T>
void store_integer_row(const Filter2dArgs<T>& a, const T* values, const T* const* padded_rows, int64_t n, Out* out) {
    // Sums near x.5, where T's rounding error may have decided the result, are rare: they are
    // summed again in double.
    const T near_half = a.round_margin > 0 ? T(0.5) - static_cast<T>(a.round_margin) : T(1);
    if (!round_saturate(values, n, out, near_half)) return;
    for (int64_t j = 0; j < n; ++j) {
        const T v = clamp_to<Out>(values[j]);
        if (std::fabs(v - round_even(v)) >= near_half)
            out[j] = static_cast<Out>(static_cast<int32_t>(round_even(clamp_to<Out>(exact_sum(a, padded_rows, j)))));
    }
}

template <typename T>
void store_row(const Filter2dArgs<T>& a, const T* values, const T* const* padded_rows, int64_t n, void* out) {
    switch (a.output_type) {
        case ElementType::float32: {
            float* o = static_cast<float*>(out);
            for (int64_t j = 0; j < n; ++j) o[j] = static_cast<float>(values[j]);
            return;
        }
        case ElementType::float64: {
            double* o = static_cast<double*>(out);
            for (int64_t j = 0; j < n; ++j) o[j] = static_cast<double>(values[j]);
            return;
        }
        case ElementType::uint8: return store_integer_row(a, values, padded_rows, n, static_cast<uint8_t*>(out));
        case ElementType::uint16: return store_integer_row(a, values, padded_rows, n, static_cast<uint16_t*>(out));
        case ElementType::int16: return store_integer_row(a, values, padded_rows, n, static_cast<int16_t*>(out));
    }
}

inline int64_t element_size(ElementType type) {
    switch (type) {
        case ElementType::uint8: return 1;
        case ElementType::uint16:
        case ElementType::int16: return 2;
        case ElementType::float32: return 4;
        case ElementType::float64: return 8;
    }
    return 1;
}

// Output rows [row_begin, row_end) of one plane.
template <typename In, typename T>
bool filter_band(const Filter2dArgs<T>& a, int64_t plane, int64_t row_begin, int64_t row_end) {
    using V = typename VecFor<T>::type;
    Rings<T> rings;
    if (!allocate_rings(a, &rings)) return false;
    const int64_t kh = a.kernel_height, kw = a.kernel_width, channels = a.channels;
    const int64_t n = a.out_width * channels;
    const int64_t padded_width = a.out_width + kw - 1;
    const bool separable = a.row_taps != nullptr;
    constexpr ElementType compute_type = sizeof(T) == 4 ? ElementType::float32 : ElementType::float64;
    const In* input = static_cast<const In*>(a.input) + plane * a.plane_stride;
    char* output = static_cast<char*>(a.output) + plane * a.out_height * n * element_size(a.output_type);
    for (int64_t y = row_begin; y < row_end; ++y) {
        for (int64_t r = 0; r < kh; ++r) {
            const int64_t virtual_row = y + r;  // padded row index: input row virtual_row - pad_top
            const int64_t slot = virtual_row % kh;
            T* padded = rings.padded + slot * rings.padded_pitch;
            T* filtered = rings.filtered + slot * rings.row_pitch;
            if (rings.tags[slot] != virtual_row) {
                load_row<In, T>(a, input, virtual_row - a.pad_top, padded_width, padded);
                if (separable) {
                    const T* source = padded;
                    taps_row<V>(&source, a.row_taps, 1, kw, channels, n, filtered);
                }
                rings.tags[slot] = virtual_row;
            }
            rings.padded_rows[r] = padded;
            rings.filtered_rows[r] = filtered;
        }
        char* out_row = output + y * n * element_size(a.output_type);
        T* values = a.output_type == compute_type ? reinterpret_cast<T*>(out_row) : rings.result;
        if (separable)
            taps_row<V>(rings.filtered_rows, a.column_taps, kh, 1, 0, n, values);
        else
            taps_row<V>(rings.padded_rows, a.kernel, kh, kw, channels, n, values);
        if (values == rings.result) store_row(a, values, rings.padded_rows, n, out_row);
    }
    std::free(rings.memory);
    return true;
}

template <typename In, typename T>
void filter2d_typed(const Filter2dArgs<T>& a) {
    int threads = a.num_threads;
    const int64_t work = a.planes * a.out_height * a.out_width * a.channels * a.kernel_height * a.kernel_width;
    if (work < (int64_t(1) << 16)) threads = 1;  // a parallel region costs more than it saves
    // Enough bands to balance the threads, each much taller than the kernel (a band's first
    // KH - 1 rows are read twice).
    int64_t bands = 1;
    if (a.planes < 2 * threads) {
        const int64_t wanted = (4 * threads + a.planes - 1) / a.planes;
        const int64_t most = util::max_i64(1, a.out_height / util::max_i64(16, 4 * a.kernel_height));
        bands = util::min_i64(wanted, most);
    }
    const int64_t jobs = a.planes * bands;
    bool failed = false;
    FASTCONV_PARALLEL_FOR_JOBS
    for (int64_t job = 0; job < jobs; ++job) {
        const int64_t plane = job / bands, band = job % bands;
        const int64_t begin = a.out_height * band / bands, end = a.out_height * (band + 1) / bands;
        if (!filter_band<In, T>(a, plane, begin, end)) {
#if defined(FASTCONV_OPENMP)
#pragma omp atomic write
#endif
            failed = true;
        }
    }
    if (failed) throw std::bad_alloc();
}

template <typename T>
void filter2d_any(const Filter2dArgs<T>& a) {
    switch (a.input_type) {
        case ElementType::uint8: return filter2d_typed<uint8_t, T>(a);
        case ElementType::uint16: return filter2d_typed<uint16_t, T>(a);
        case ElementType::int16: return filter2d_typed<int16_t, T>(a);
        case ElementType::float32: return filter2d_typed<float, T>(a);
        case ElementType::float64: return filter2d_typed<double, T>(a);
    }
}

}  // namespace

void filter2d_f32(const Filter2dArgs<float>& a) { filter2d_any(a); }
void filter2d_f64(const Filter2dArgs<double>& a) { filter2d_any(a); }

}  // namespace FASTCONV_ISA
}  // namespace fastconv
