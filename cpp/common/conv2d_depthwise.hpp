// Depthwise convolution kernel (one filter per channel), NCHW. Included once per ISA by
// conv2d_depthwise_<isa>.cpp, which defines FASTCONV_ISA and the vector macro (common/vec.hpp).
//
// A job is one (image, channel): the channel is packed into its zero-padded stride phases in the
// thread's scratch (L1/L2 sized), then each output row is computed a segment of up to 4 vectors
// at a time, every tap a broadcast weight times contiguous loads from its phase, straight into
// the output row (masked store for the row's tail); bias on the way, ReLU over the finished row.
#include "common/conv2d_pack.hpp"
#include "common/params.hpp"
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

template <typename T>
void depthwise(const Conv2dDepthwiseArgs<T>& a) {
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
