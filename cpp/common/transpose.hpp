// The 16x16 block transpose the channel-lane kernels use to move between NCHW planes and
// [position][channel] tiles: AVX-512 shuffles for float32, element loops otherwise. Internal
// linkage: per-ISA files include it after defining FASTCONV_ISA and the vector macro.
#pragma once
#include <cstdint>
#include <type_traits>

#if defined(FASTCONV_VEC_AVX512)
#include <immintrin.h>
#endif

#ifndef FASTCONV_ISA
#error "define FASTCONV_ISA before including transpose.hpp"
#endif

namespace fastconv {
namespace FASTCONV_ISA {
namespace {

// Rows [0, row_count) of `rows` (one every `row_stride` elements, `steps` <= 16 elements read
// from each) transposed into out[k][0 .. 16) for k < steps, one row of out every `out_stride`
// elements, zero past row_count.
template <typename T>
inline void transpose_16(const T* rows, int64_t row_stride, int64_t row_count, int64_t steps, T* out,
                         int64_t out_stride) {
#if defined(FASTCONV_VEC_AVX512)
    if constexpr (std::is_same_v<T, float>) {
        const __mmask16 mask = static_cast<__mmask16>((1u << steps) - 1u);
        __m512 r[16], t[16];
        for (int i = 0; i < 16; ++i)
            r[i] = i < row_count ? _mm512_maskz_loadu_ps(mask, rows + i * row_stride) : _mm512_setzero_ps();
        for (int i = 0; i < 8; ++i) {  // per 128-bit lane: (r0[0], r1[0], r0[1], r1[1]), (r0[2], r1[2], ...)
            t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
            t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
        }
        for (int i = 0; i < 4; ++i) {  // r[4i + j], lane l: element 4l + j of rows 4i .. 4i + 3
            r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
            r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
            r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
            r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
        }
        for (int j = 0; j < 4; ++j) {  // element 4l + j of every row: lane l of r[j], r[4 + j], r[8 + j], r[12 + j]
            const __m512 even_low = _mm512_shuffle_f32x4(r[j], r[4 + j], 0x88);
            const __m512 odd_low = _mm512_shuffle_f32x4(r[j], r[4 + j], 0xDD);
            const __m512 even_high = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0x88);
            const __m512 odd_high = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0xDD);
            t[j] = _mm512_shuffle_f32x4(even_low, even_high, 0x88);
            t[8 + j] = _mm512_shuffle_f32x4(even_low, even_high, 0xDD);
            t[4 + j] = _mm512_shuffle_f32x4(odd_low, odd_high, 0x88);
            t[12 + j] = _mm512_shuffle_f32x4(odd_low, odd_high, 0xDD);
        }
        // unrolled with a test each: a loop to `steps` had t[] spilled and copied with rep movsq
#pragma GCC unroll 16
        for (int k = 0; k < 16; ++k)
            if (k < steps) _mm512_storeu_ps(out + k * out_stride, t[k]);
        return;
    }
#endif
    for (int64_t k = 0; k < steps; ++k)
        for (int64_t i = 0; i < 16; ++i) out[k * out_stride + i] = i < row_count ? rows[i * row_stride + k] : T(0);
}

}  // namespace
}  // namespace FASTCONV_ISA
}  // namespace fastconv
