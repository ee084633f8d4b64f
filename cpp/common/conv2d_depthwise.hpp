// Depthwise convolution kernel (one filter per channel), NCHW. Included once per ISA by
// conv2d_depthwise_<isa>.cpp, which defines FASTCONV_ISA and the vector macro (common/vec.hpp).
//
// A job is one (image, channel): the channel is packed into its zero-padded stride phases in the
// thread's scratch (L1/L2 sized), then each output row is computed a segment of up to 4 vectors
// at a time, every tap a broadcast weight times contiguous loads from its phase, straight into
// the output row (masked store for the row's tail); bias on the way, ReLU over the finished row.
// Small NCHW planes (rows no wider than a vector) and NHWC layers put the channels in the
// lanes instead, every output position a vector of channels. NCHW: a job is (image, vector of
// channels), transposed into padded [row][column][lane] cells and back. NHWC: a job is
// (image, up to 128 channels, band of output rows), read straight from the input (the
// positions whose taps reach into the padding tap by tap) and stored into the output rows.
#include "common/conv2d_pack.hpp"
#include "common/params.hpp"
#include "common/transpose.hpp"
#include "common/util.hpp"
#include "common/vec.hpp"

#ifndef FASTCONV_ISA
#error "define FASTCONV_ISA before including conv2d_depthwise.hpp"
#endif

namespace fastconv {
namespace FASTCONV_ISA {
namespace {

// Rows x Segment vectors of results into consecutive output rows from column ow0 (masked stores
// at the rows' ends).
template <class V, int Segment, int Rows>
inline void store_segments(const V (&acc)[Rows][Segment], typename V::T* out, int64_t out_width, int64_t ow0) {
    constexpr int L = V::lanes;
    for (int r = 0; r < Rows; ++r)
        for (int v = 0; v < Segment; ++v) {
            const int64_t left = out_width - ow0 - v * L;
            if (left >= L)
                acc[r][v].store(out + r * out_width + ow0 + v * L);
            else if (left > 0)
                acc[r][v].store_first(out + r * out_width + ow0 + v * L, int(left));
        }
}

// Output rows [oh, oh + Rows) of one channel from its packed plane, Segment vectors of each row
// in registers at a time.
template <class V, int Segment, int Rows>
inline void depthwise_segments(const Conv2dDepthwiseArgs<typename V::T>& a, const typename V::T* packed,
                               const typename V::T* w, int64_t taps, typename V::T bias, int64_t oh,
                               typename V::T* out) {
    using T = typename V::T;
    constexpr int L = V::lanes;
    const int64_t pitch = a.pack.pitch;
    for (int64_t ow0 = 0; ow0 < a.out_width; ow0 += Segment * L) {
        V acc[Rows][Segment];
        for (int r = 0; r < Rows; ++r)
            for (int v = 0; v < Segment; ++v) acc[r][v] = V::broadcast(bias);
        const T* base = packed + oh * pitch + ow0;
        for (int64_t t = 0; t < taps; ++t) {
            const T* src = base + a.tap_offsets[t];
            const V b = V::broadcast(w[t]);
#pragma GCC unroll 4
            for (int r = 0; r < Rows; ++r)
#pragma GCC unroll 4
                for (int v = 0; v < Segment; ++v) acc[r][v] = V::fma(b, V::load(src + r * pitch + v * L), acc[r][v]);
        }
        store_segments<V, Segment, Rows>(acc, out + oh * a.out_width, a.out_width, ow0);
    }
}

// Undilated kernels: output rows [oh, oh + Rows) of one channel, walking the packed input instead
// of the taps. Each vector of a stride phase's row is loaded once and multiplied into every
// (output row, tap) that reads it: Rows + KH / stride rows of loads for Rows * KH rows of taps
// (unaligned loads, half of them split over two cache lines, are what limits this kernel).
template <class V, int Segment, int Rows>
inline void depthwise_segments_shared(const Conv2dDepthwiseArgs<typename V::T>& a, const typename V::T* packed,
                                      const typename V::T* w, typename V::T bias, int64_t oh,
                                      typename V::T* out) {
    using T = typename V::T;
    constexpr int L = V::lanes;
    const PackGeometry& p = a.pack;
    const int64_t kernel_height = a.kernel_height, kernel_width = a.kernel_width;
    for (int64_t ow0 = 0; ow0 < a.out_width; ow0 += Segment * L) {
        V acc[Rows][Segment];
        for (int r = 0; r < Rows; ++r)
            for (int v = 0; v < Segment; ++v) acc[r][v] = V::broadcast(bias);
        for (int64_t ph = 0; ph < p.stride_h && ph < kernel_height; ++ph)
            for (int64_t pw = 0; pw < p.stride_w && pw < kernel_width; ++pw) {
                const T* phase = packed + (ph * p.stride_w + pw) * p.plane + oh * p.pitch + ow0;
                const int64_t row_taps = (kernel_height - 1 - ph) / p.stride_h + 1;  // kh = ph + i * stride_h
                const int64_t column_taps = (kernel_width - 1 - pw) / p.stride_w + 1;
                for (int64_t j = 0; j < Rows - 1 + row_taps; ++j)
                    for (int64_t b = 0; b < column_taps; ++b) {
                        const T* src = phase + j * p.pitch + b;
                        V x[Segment];
#pragma GCC unroll 4
                        for (int v = 0; v < Segment; ++v) x[v] = V::load(src + v * L);
                        const T* tap = w + pw + b * p.stride_w;  // column kw of the kernel
#pragma GCC unroll 4
                        for (int r = 0; r < Rows; ++r) {
                            const int64_t i = j - r;  // output row oh + r reads kernel row ph + i * stride_h
                            if (i < 0 || i >= row_taps) continue;
                            const V weight = V::broadcast(tap[(ph + i * p.stride_h) * kernel_width]);
#pragma GCC unroll 4
                            for (int v = 0; v < Segment; ++v) acc[r][v] = V::fma(weight, x[v], acc[r][v]);
                        }
                    }
            }
        store_segments<V, Segment, Rows>(acc, out + oh * a.out_width, a.out_width, ow0);
    }
}

// Segment: vectors of one output row held in registers (as many as a short row needs, up to 4).
template <typename T, int Segment>
void depthwise_rows(const Conv2dDepthwiseArgs<T>& a) {
    using V = typename VecFor<T>::type;
    const PackGeometry& p = a.pack;
    const int64_t in_plane = p.in_height * p.in_width;
    const int64_t out_plane = a.out_height * a.out_width;
    const int64_t taps = a.kernel_height * a.kernel_width;
    const int64_t jobs = a.batch * a.channels;
    const int threads = a.num_threads;

    FASTCONV_PARALLEL_FOR_JOBS
    for (int64_t job = 0; job < jobs; ++job) {
        const int64_t c = job % a.channels;
        T* packed = a.scratch + util::thread_index() * a.channel_stride;
        // the job's channel as a one-channel image: its plane starts at channel c of image n
        packing::pack_channel<T, true>(p, a.input + job * in_plane - c * in_plane, c, packed);  // padding zeroed by the caller
        const T* w = a.weight + c * taps;
        const T bias = a.bias ? a.bias[c] : T(0);
        T* out = a.output + job * out_plane;
        int64_t oh = 0;
        // stride 1 (measured: at stride 2 the phases share fewer loads than the broadcasts cost)
        if (a.dilation_h == 1 && a.dilation_w == 1 && p.stride_h == 1 && p.stride_w == 1) {
            constexpr int kRows = kVectorRegisters >= 32 ? 4 : 2;
            for (; oh + kRows <= a.out_height; oh += kRows)
                depthwise_segments_shared<V, Segment, kRows>(a, packed, w, bias, oh, out);
            for (; oh < a.out_height; ++oh) depthwise_segments_shared<V, Segment, 1>(a, packed, w, bias, oh, out);
        }
        // Other strides, two output rows at a time (the next one reads one packed row further
        // down): twice the independent accumulators, so that the taps' FMA chains overlap.
        for (; oh + 1 < a.out_height; oh += 2)
            depthwise_segments<V, Segment, 2>(a, packed, w, taps, bias, oh, out);
        if (oh < a.out_height) depthwise_segments<V, Segment, 1>(a, packed, w, taps, bias, oh, out);
        if (a.relu)
            for (int64_t i = 0; i < out_plane; ++i) out[i] = util::relu(out[i]);
    }
}

// Channels in the lanes. Count consecutive output positions of one row: every tap a weight
// vector (one per channel) times the input vectors of the positions it reads, plus the bias,
// through ReLU if asked, to out + p * out_step (the first `count` lanes). The input vector of
// cell (row i, column j) from the first position's tap (0, 0) is at first + i * row_pitch +
// j * column_step; Partial: only the first `count` lanes exist (an NHWC input's last vector).
template <class V, int Count, bool Partial>
inline void depthwise_lane_positions(const Conv2dDepthwiseArgs<typename V::T>& a, const typename V::T* first,
                                     int64_t row_pitch, int64_t column_step, const typename V::T* weights,
                                     const V& bias, typename V::T* out, int64_t out_step, int count) {
    using T = typename V::T;
    constexpr int L = V::lanes;
    V acc[Count];
#pragma GCC unroll 16
    for (int p = 0; p < Count; ++p) acc[p] = bias;
    const int64_t step = a.pack.stride_w * column_step;  // between the inputs of neighbouring positions
    for (int64_t kh = 0; kh < a.kernel_height; ++kh) {
        const T* src_row = first + kh * a.dilation_h * row_pitch;
        for (int64_t kw = 0; kw < a.kernel_width; ++kw) {
            const V w = V::load(weights + (kh * a.kernel_width + kw) * L);
            const T* src = src_row + kw * a.dilation_w * column_step;
#pragma GCC unroll 16
            for (int p = 0; p < Count; ++p)
                acc[p] = V::fma(w, Partial ? V::load_first(src + p * step, count) : V::load(src + p * step), acc[p]);
        }
    }
#pragma GCC unroll 16
    for (int p = 0; p < Count; ++p) {
        const V v = a.relu ? V::relu(acc[p]) : acc[p];
        if (count == L)
            v.store(out + p * out_step);
        else
            v.store_first(out + p * out_step, count);
    }
}

// `positions` consecutive output positions of one row, Count at a time (see
// depthwise_lane_positions).
template <class V, int Count, bool Partial>
inline void depthwise_lane_span(const Conv2dDepthwiseArgs<typename V::T>& a, const typename V::T* first,
                                int64_t row_pitch, int64_t column_step, int64_t positions,
                                const typename V::T* weights, const V& bias, typename V::T* out, int64_t out_step,
                                int count) {
    const int64_t advance = a.pack.stride_w * column_step;
    int64_t p0 = 0;
    for (; p0 + Count <= positions; p0 += Count)
        depthwise_lane_positions<V, Count, Partial>(a, first + p0 * advance, row_pitch, column_step, weights, bias,
                                                    out + p0 * out_step, out_step, count);
    switch (positions - p0) {  // the tail, fewer than Count positions
#define FASTCONV_TAIL(n)                                                                                     \
    case n:                                                                                                  \
        if constexpr (n < Count)                                                                             \
            depthwise_lane_positions<V, n, Partial>(a, first + p0 * advance, row_pitch, column_step, weights, \
                                                    bias, out + p0 * out_step, out_step, count);             \
        break;
        FASTCONV_TAIL(1) FASTCONV_TAIL(2) FASTCONV_TAIL(3) FASTCONV_TAIL(4) FASTCONV_TAIL(5) FASTCONV_TAIL(6)
        FASTCONV_TAIL(7)
#undef FASTCONV_TAIL
        default: break;
    }
}

// One NHWC output position (oh, ow) whose taps reach into the padding: the taps inside the
// image only. `image` points at channel c0 of the image's first cell.
template <class V>
inline void depthwise_lane_border(const Conv2dDepthwiseArgs<typename V::T>& a, const typename V::T* image,
                                  int64_t oh, int64_t ow, const typename V::T* weights, const V& bias,
                                  typename V::T* out, int count) {
    using T = typename V::T;
    constexpr int L = V::lanes;
    const PackGeometry& p = a.pack;
    V acc = bias;
    for (int64_t kh = 0; kh < a.kernel_height; ++kh) {
        const int64_t ih = oh * p.stride_h - p.pad_top + kh * a.dilation_h;
        if (ih < 0 || ih >= p.in_height) continue;
        for (int64_t kw = 0; kw < a.kernel_width; ++kw) {
            const int64_t iw = ow * p.stride_w - p.pad_left + kw * a.dilation_w;
            if (iw < 0 || iw >= p.in_width) continue;
            const T* src = image + (ih * p.in_width + iw) * a.channels;
            const V x = count == L ? V::load(src) : V::load_first(src, count);
            acc = V::fma(V::load(weights + (kh * a.kernel_width + kw) * L), x, acc);
        }
    }
    const V v = a.relu ? V::relu(acc) : acc;
    if (count == L)
        v.store(out);
    else
        v.store_first(out, count);
}

// Output row oh of one NHWC vector of channels, read straight from the input: the positions
// whose taps all land inside the image as spans, the others tap by tap.
template <class V, int Count>
inline void depthwise_lane_nhwc_row(const Conv2dDepthwiseArgs<typename V::T>& a, const typename V::T* image,
                                    int64_t oh, const typename V::T* weights, const V& bias, typename V::T* out,
                                    int count) {
    const PackGeometry& p = a.pack;
    const int64_t C = a.channels;
    const int64_t ih0 = oh * p.stride_h - p.pad_top;
    const bool rows_inside = ih0 >= 0 && ih0 + (a.kernel_height - 1) * a.dilation_h < p.in_height;
    int64_t lo = 0, hi = 0;  // positions whose taps' columns all lie inside the image
    if (rows_inside)
        util::valid_output_range(-p.pad_left, p.stride_w, p.in_width - (a.kernel_width - 1) * a.dilation_w,
                                 a.out_width, &lo, &hi);
    for (int64_t ow = 0; ow < lo; ++ow) depthwise_lane_border<V>(a, image, oh, ow, weights, bias, out + ow * C, count);
    if (hi > lo) {
        const auto* first = image + (ih0 * p.in_width + lo * p.stride_w - p.pad_left) * C;
        if (count == V::lanes)
            depthwise_lane_span<V, Count, false>(a, first, p.in_width * C, C, hi - lo, weights, bias, out + lo * C, C,
                                                 count);
        else
            depthwise_lane_span<V, Count, true>(a, first, p.in_width * C, C, hi - lo, weights, bias, out + lo * C, C,
                                                count);
    }
    for (int64_t ow = util::max_i64(lo, hi); ow < a.out_width; ++ow)
        depthwise_lane_border<V>(a, image, oh, ow, weights, bias, out + ow * C, count);
}

template <typename T>
void depthwise_lanes(const Conv2dDepthwiseArgs<T>& a) {
    using V = typename VecFor<T>::type;
    constexpr int L = V::lanes;
    // positions in registers at a time: accumulators, a weight and an input vector
    constexpr int kCount = kVectorRegisters >= 32 ? 8 : 4;
    static_assert(kCount <= 8, "depthwise_lane_span's tail cases stop at 7");
    const PackGeometry& p = a.pack;
    const int64_t C = a.channels;
    const int64_t in_plane = p.in_height * p.in_width, out_plane = a.out_height * a.out_width;
    const int64_t taps = a.kernel_height * a.kernel_width;
    const int64_t vectors = (C + L - 1) / L;
    // NHWC: a job takes a group of vectors, row by row, vector after vector, so that its reads
    // walk each input cell's contiguous channels
    const int64_t group_vectors = a.nhwc ? util::min_i64(vectors, util::max_i64(1, a.group_channels / L)) : 1;
    const int64_t groups = (vectors + group_vectors - 1) / group_vectors;
    const int64_t bands = (a.out_height + a.band_rows - 1) / a.band_rows;
    const int64_t jobs = a.batch * groups * bands;
    const int threads = a.num_threads;
    FASTCONV_PARALLEL_FOR_JOBS
    for (int64_t job = 0; job < jobs; ++job) {
        const int64_t band = job % bands, group = job / bands % groups, n = job / bands / groups;
        const int64_t first_vector = group * vectors / groups, end_vector = (group + 1) * vectors / groups;
        const int64_t oh0 = band * a.band_rows, rows = util::min_i64(a.band_rows, a.out_height - oh0);
        T* weights = a.scratch + util::thread_index() * a.lane_slice;  // [vector][tap][L]
        alignas(64) T bias_lanes[16 * 8];                               // [vector][L], 8 vectors at a time
        for (int64_t v = first_vector; v < end_vector; ++v) {
            const int64_t c0 = v * L, count = util::min_i64(L, C - c0);
            T* w = weights + (v - first_vector) * taps * L;
            for (int64_t t = 0; t < taps; ++t)
                for (int64_t l = 0; l < L; ++l) w[t * L + l] = l < count ? a.weight[(c0 + l) * taps + t] : T(0);
        }
        if (a.nhwc) {
            const T* image = a.input + n * in_plane * C;
            for (int64_t v0 = first_vector; v0 < end_vector; v0 += 8) {  // bias vectors for 8 at a time
                const int64_t v1 = util::min_i64(end_vector, v0 + 8);
                for (int64_t v = v0; v < v1; ++v)
                    for (int64_t l = 0; l < L; ++l)
                        bias_lanes[(v - v0) * L + l] = a.bias && v * L + l < C ? a.bias[v * L + l] : T(0);
                for (int64_t r = 0; r < rows; ++r) {
                    const int64_t oh = oh0 + r;
                    T* out_row = a.output + (n * out_plane + oh * a.out_width) * C;
                    for (int64_t v = v0; v < v1; ++v) {
                        const int count = int(util::min_i64(L, C - v * L));
                        depthwise_lane_nhwc_row<V, kCount>(a, image + v * L, oh,
                                                           weights + (v - first_vector) * taps * L,
                                                           V::load(bias_lanes + (v - v0) * L), out_row + v * L,
                                                           count);
                    }
                }
            }
            continue;
        }
        // NCHW (small planes): the vector's channels transposed into padded cells
        // [input row][column][L], computed into results[position][L], transposed back
        const int64_t c0 = first_vector * L, count = util::min_i64(L, C - c0);
        const int64_t rows_read = (a.out_height - 1) * p.stride_h + (a.kernel_height - 1) * a.dilation_h + 1;
        T* packed = weights + taps * L;
        T* results = packed + rows_read * a.cols_read * L;
        for (int64_t i = 0; i < rows_read * a.cols_read * L; ++i) packed[i] = T(0);
        const int64_t width = util::max_i64(0, util::min_i64(p.in_width, a.cols_read - p.pad_left));
        const int64_t last_ih = util::min_i64(p.in_height, rows_read - p.pad_top);
        for (int64_t ih = 0; ih < last_ih && width > 0; ++ih) {
            const T* src = a.input + (n * C + c0) * in_plane + ih * p.in_width;
            T* dst = packed + ((ih + p.pad_top) * a.cols_read + p.pad_left) * L;
            if constexpr (L == 16) {
                for (int64_t iw = 0; iw < width; iw += 16)
                    transpose_16(src + iw, in_plane, count, util::min_i64(16, width - iw), dst + iw * L, L);
            } else {
                for (int64_t c = 0; c < count; ++c)
                    for (int64_t iw = 0; iw < width; ++iw) dst[iw * L + c] = src[c * in_plane + iw];
            }
        }
        for (int64_t l = 0; l < L; ++l) bias_lanes[l] = a.bias && l < count ? a.bias[c0 + l] : T(0);
        const V bias = V::load(bias_lanes);
        for (int64_t oh = 0; oh < a.out_height; ++oh)
            depthwise_lane_span<V, kCount, false>(a, packed + oh * p.stride_h * a.cols_read * L, a.cols_read * L, L,
                                                  a.out_width, weights, bias, results + oh * a.out_width * L, L, L);
        if constexpr (L == 16) {
            alignas(64) T columns[16 * 16];
            for (int64_t p0 = 0; p0 < out_plane; p0 += 16) {
                const int64_t chunk = util::min_i64(16, out_plane - p0);
                transpose_16(results + p0 * L, L, chunk, count, columns, 16);
                for (int64_t c = 0; c < count; ++c)
                    V::load(columns + c * 16).store_first(a.output + (n * C + c0 + c) * out_plane + p0, int(chunk));
            }
        } else {
            for (int64_t c = 0; c < count; ++c)
                for (int64_t i = 0; i < out_plane; ++i)
                    a.output[(n * C + c0 + c) * out_plane + i] = results[i * L + c];
        }
    }
}

template <typename T>
void depthwise(const Conv2dDepthwiseArgs<T>& a) {
    if (a.channels_in_lanes) {
        depthwise_lanes(a);
        return;
    }
    constexpr int L = VecFor<T>::type::lanes;
    switch (util::min_i64(4, (a.out_width + L - 1) / L)) {
        case 1: depthwise_rows<T, 1>(a); break;
        case 2: depthwise_rows<T, 2>(a); break;
        case 3: depthwise_rows<T, 3>(a); break;
        default: depthwise_rows<T, 4>(a); break;
    }
}

}  // namespace

void conv2d_f32_depthwise(const Conv2dDepthwiseArgs<float>& a) { depthwise(a); }
void conv2d_f64_depthwise(const Conv2dDepthwiseArgs<double>& a) { depthwise(a); }

}  // namespace FASTCONV_ISA
}  // namespace fastconv
