// Thin vector types for the kernels: one set per ISA, chosen by the macro the including file
// defines (FASTCONV_VEC_AVX512, FASTCONV_VEC_AVX2, or neither for the portable baseline, whose
// fixed-size arrays the compiler maps onto SSE2 / NEON). Internal linkage: each ISA file gets
// its own copy built with its own flags.
#pragma once
#include <cstdint>

#if defined(FASTCONV_VEC_AVX512) || defined(FASTCONV_VEC_AVX2)
#include <immintrin.h>
#endif

namespace fastconv {
namespace FASTCONV_ISA {
namespace {

#if defined(FASTCONV_VEC_AVX512)
struct VecF32 {
    using T = float;
    static constexpr int lanes = 16;
    __m512 v;
    static VecF32 load(const float* p) { return {_mm512_loadu_ps(p)}; }
    // The first n lanes (0 <= n <= lanes); the others are zero and their memory is not touched.
    static VecF32 load_first(const float* p, int n) {
        return {_mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1u), p)};
    }
    static VecF32 broadcast(float x) { return {_mm512_set1_ps(x)}; }
    static VecF32 zero() { return {_mm512_setzero_ps()}; }
    static VecF32 fma(VecF32 a, VecF32 b, VecF32 c) { return {_mm512_fmadd_ps(a.v, b.v, c.v)}; }
    // max(0, x) with x second: maxps returns its second operand for NaN, which stays NaN (torch)
    static VecF32 relu(VecF32 x) { return {_mm512_max_ps(_mm512_setzero_ps(), x.v)}; }
    void store(float* p) const { _mm512_storeu_ps(p, v); }
    // The first n lanes (0 <= n <= lanes); memory past them is not touched.
    void store_first(float* p, int n) const { _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << n) - 1u), v); }
};
struct VecF64 {
    using T = double;
    static constexpr int lanes = 8;
    __m512d v;
    static VecF64 load(const double* p) { return {_mm512_loadu_pd(p)}; }
    static VecF64 load_first(const double* p, int n) {
        return {_mm512_maskz_loadu_pd(static_cast<__mmask8>((1u << n) - 1u), p)};
    }
    static VecF64 broadcast(double x) { return {_mm512_set1_pd(x)}; }
    static VecF64 zero() { return {_mm512_setzero_pd()}; }
    static VecF64 fma(VecF64 a, VecF64 b, VecF64 c) { return {_mm512_fmadd_pd(a.v, b.v, c.v)}; }
    static VecF64 relu(VecF64 x) { return {_mm512_max_pd(_mm512_setzero_pd(), x.v)}; }
    void store(double* p) const { _mm512_storeu_pd(p, v); }
    void store_first(double* p, int n) const { _mm512_mask_storeu_pd(p, static_cast<__mmask8>((1u << n) - 1u), v); }
};
constexpr int kVectorRegisters = 32;
#elif defined(FASTCONV_VEC_AVX2)
struct VecF32 {
    using T = float;
    static constexpr int lanes = 8;
    __m256 v;
    static VecF32 load(const float* p) { return {_mm256_loadu_ps(p)}; }
    static VecF32 load_first(const float* p, int n) {
        const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        return {_mm256_maskload_ps(p, mask)};
    }
    static VecF32 broadcast(float x) { return {_mm256_set1_ps(x)}; }
    static VecF32 zero() { return {_mm256_setzero_ps()}; }
    static VecF32 fma(VecF32 a, VecF32 b, VecF32 c) { return {_mm256_fmadd_ps(a.v, b.v, c.v)}; }
    static VecF32 relu(VecF32 x) { return {_mm256_max_ps(_mm256_setzero_ps(), x.v)}; }
    void store(float* p) const { _mm256_storeu_ps(p, v); }
    void store_first(float* p, int n) const {
        _mm256_maskstore_ps(p, _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)), v);
    }
};
struct VecF64 {
    using T = double;
    static constexpr int lanes = 4;
    __m256d v;
    static VecF64 load(const double* p) { return {_mm256_loadu_pd(p)}; }
    static VecF64 load_first(const double* p, int n) {
        const __m256i mask = _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3));
        return {_mm256_maskload_pd(p, mask)};
    }
    static VecF64 broadcast(double x) { return {_mm256_set1_pd(x)}; }
    static VecF64 zero() { return {_mm256_setzero_pd()}; }
    static VecF64 fma(VecF64 a, VecF64 b, VecF64 c) { return {_mm256_fmadd_pd(a.v, b.v, c.v)}; }
    static VecF64 relu(VecF64 x) { return {_mm256_max_pd(_mm256_setzero_pd(), x.v)}; }
    void store(double* p) const { _mm256_storeu_pd(p, v); }
    void store_first(double* p, int n) const {
        _mm256_maskstore_pd(p, _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3)), v);
    }
};
constexpr int kVectorRegisters = 16;
#else
// Portable baseline: 128-bit wide, written as plain loops the compiler vectorises.
template <typename Scalar, int Lanes>
struct VecGeneric {
    using T = Scalar;
    static constexpr int lanes = Lanes;
    Scalar v[Lanes];
    static VecGeneric load(const Scalar* p) {
        VecGeneric r;
        for (int i = 0; i < Lanes; ++i) r.v[i] = p[i];
        return r;
    }
    static VecGeneric load_first(const Scalar* p, int n) {
        VecGeneric r;
        for (int i = 0; i < Lanes; ++i) r.v[i] = i < n ? p[i] : Scalar(0);
        return r;
    }
    static VecGeneric broadcast(Scalar x) {
        VecGeneric r;
        for (int i = 0; i < Lanes; ++i) r.v[i] = x;
        return r;
    }
    static VecGeneric zero() { return broadcast(Scalar(0)); }
    static VecGeneric fma(const VecGeneric& a, const VecGeneric& b, const VecGeneric& c) {
        VecGeneric r;
        for (int i = 0; i < Lanes; ++i) r.v[i] = a.v[i] * b.v[i] + c.v[i];
        return r;
    }
    static VecGeneric relu(const VecGeneric& x) {
        VecGeneric r;
        for (int i = 0; i < Lanes; ++i) r.v[i] = x.v[i] < Scalar(0) ? Scalar(0) : x.v[i];  // NaN stays NaN
        return r;
    }
    void store(Scalar* p) const {
        for (int i = 0; i < Lanes; ++i) p[i] = v[i];
    }
    void store_first(Scalar* p, int n) const {
        for (int i = 0; i < n; ++i) p[i] = v[i];
    }
};
using VecF32 = VecGeneric<float, 4>;
using VecF64 = VecGeneric<double, 2>;
constexpr int kVectorRegisters = 16;
#endif

template <typename T>
struct VecFor;
template <>
struct VecFor<float> {
    using type = VecF32;
};
template <>
struct VecFor<double> {
    using type = VecF64;
};

// Element-wise add, subtract, multiply and divide, each rounded on its own (a file built with
// -ffp-contract=off keeps a multiply and an add apart).
#if defined(FASTCONV_VEC_AVX512)
inline VecF64 add(VecF64 a, VecF64 b) { return {_mm512_add_pd(a.v, b.v)}; }
inline VecF64 sub(VecF64 a, VecF64 b) { return {_mm512_sub_pd(a.v, b.v)}; }
inline VecF64 mul(VecF64 a, VecF64 b) { return {_mm512_mul_pd(a.v, b.v)}; }
inline VecF64 div(VecF64 a, VecF64 b) { return {_mm512_div_pd(a.v, b.v)}; }
inline VecF32 add(VecF32 a, VecF32 b) { return {_mm512_add_ps(a.v, b.v)}; }
inline VecF32 sub(VecF32 a, VecF32 b) { return {_mm512_sub_ps(a.v, b.v)}; }
inline VecF32 mul(VecF32 a, VecF32 b) { return {_mm512_mul_ps(a.v, b.v)}; }
inline VecF32 div(VecF32 a, VecF32 b) { return {_mm512_div_ps(a.v, b.v)}; }
#elif defined(FASTCONV_VEC_AVX2)
inline VecF64 add(VecF64 a, VecF64 b) { return {_mm256_add_pd(a.v, b.v)}; }
inline VecF64 sub(VecF64 a, VecF64 b) { return {_mm256_sub_pd(a.v, b.v)}; }
inline VecF64 mul(VecF64 a, VecF64 b) { return {_mm256_mul_pd(a.v, b.v)}; }
inline VecF64 div(VecF64 a, VecF64 b) { return {_mm256_div_pd(a.v, b.v)}; }
inline VecF32 add(VecF32 a, VecF32 b) { return {_mm256_add_ps(a.v, b.v)}; }
inline VecF32 sub(VecF32 a, VecF32 b) { return {_mm256_sub_ps(a.v, b.v)}; }
inline VecF32 mul(VecF32 a, VecF32 b) { return {_mm256_mul_ps(a.v, b.v)}; }
inline VecF32 div(VecF32 a, VecF32 b) { return {_mm256_div_ps(a.v, b.v)}; }
#else
template <typename T, int L>
inline VecGeneric<T, L> add(const VecGeneric<T, L>& a, const VecGeneric<T, L>& b) {
    VecGeneric<T, L> r;
    for (int i = 0; i < L; ++i) r.v[i] = a.v[i] + b.v[i];
    return r;
}
template <typename T, int L>
inline VecGeneric<T, L> sub(const VecGeneric<T, L>& a, const VecGeneric<T, L>& b) {
    VecGeneric<T, L> r;
    for (int i = 0; i < L; ++i) r.v[i] = a.v[i] - b.v[i];
    return r;
}
template <typename T, int L>
inline VecGeneric<T, L> mul(const VecGeneric<T, L>& a, const VecGeneric<T, L>& b) {
    VecGeneric<T, L> r;
    for (int i = 0; i < L; ++i) r.v[i] = a.v[i] * b.v[i];
    return r;
}
template <typename T, int L>
inline VecGeneric<T, L> div(const VecGeneric<T, L>& a, const VecGeneric<T, L>& b) {
    VecGeneric<T, L> r;
    for (int i = 0; i < L; ++i) r.v[i] = a.v[i] / b.v[i];
    return r;
}
#endif

// A Rows x Vectors tile of accumulators in registers, row r at tile + r * row_stride in memory:
// zeroed (`first`) or loaded to resume a sum, and stored when the sum stops.
template <class V, int Rows, int Vectors>
inline void load_accumulators(V (&acc)[Rows][Vectors], const typename V::T* tile, int64_t row_stride, bool first) {
#pragma GCC unroll 16
    for (int r = 0; r < Rows; ++r)
#pragma GCC unroll 8
        for (int v = 0; v < Vectors; ++v) acc[r][v] = first ? V::zero() : V::load(tile + r * row_stride + v * V::lanes);
}

template <class V, int Rows, int Vectors>
inline void store_accumulators(const V (&acc)[Rows][Vectors], typename V::T* tile, int64_t row_stride) {
#pragma GCC unroll 16
    for (int r = 0; r < Rows; ++r)
#pragma GCC unroll 8
        for (int v = 0; v < Vectors; ++v) acc[r][v].store(tile + r * row_stride + v * V::lanes);
}

}  // namespace
}  // namespace FASTCONV_ISA
}  // namespace fastconv
