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

// Segment: vectors of one output row held in registers (as many as a short row needs, up to 4).
template <typename T, int Segment>
void depthwise_rows(const Conv2dDepthwiseArgs<T>& a) {
    using V = typename VecFor<T>::type;
    constexpr int L = V::lanes;
    constexpr int kSegment = Segment;
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
        packing::pack_channel(p, a.input + job * in_plane - c * in_plane, c, packed);
        const T* w = a.weight + c * taps;
        const T bias = a.bias ? a.bias[c] : T(0);
        T* out = a.output + job * out_plane;
        for (int64_t oh = 0; oh < a.out_height; ++oh) {
            T* out_row = out + oh * a.out_width;
            for (int64_t ow0 = 0; ow0 < a.out_width; ow0 += kSegment * L) {
                V acc[kSegment];
                for (int v = 0; v < kSegment; ++v) acc[v] = V::broadcast(bias);
                const T* base = packed + oh * p.pitch + ow0;
                for (int64_t t = 0; t < taps; ++t) {
                    const T* src = base + a.tap_offsets[t];
                    const V b = V::broadcast(w[t]);
#pragma GCC unroll 4
                    for (int v = 0; v < kSegment; ++v) acc[v] = V::fma(b, V::load(src + v * L), acc[v]);
                }
                for (int v = 0; v < kSegment; ++v) {
                    const int64_t left = a.out_width - ow0 - v * L;
                    if (left >= L)
                        acc[v].store(out_row + ow0 + v * L);
                    else if (left > 0)
                        acc[v].store_first(out_row + ow0 + v * L, int(left));
                }
            }
            if (a.relu)
                for (int64_t ow = 0; ow < a.out_width; ++ow) out_row[ow] = util::relu(out_row[ow]);
        }
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
