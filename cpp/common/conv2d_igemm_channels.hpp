// Implicit-GEMM convolution with the output channels in the vector lanes. Included once per ISA
// by conv2d_igemm_channels_<isa>.cpp, which defines FASTCONV_ISA and the vector macro.
//
// The transpose of conv2d_igemm.hpp's orientation: a register tile is a run of up to
// kMaxPositions output positions of one output row (each broadcast from the packed input, at
// offsets[k] + its position) x kChannelVectors vectors of output channels. No position computed
// is a junk column or a tile's padding, which on small planes is what the other orientation
// loses (a 13x13 AlexNet plane: 192 positions computed for 169), and the weights are whole,
// aligned vector loads. A job (a block of output channels, a few row segments) transposes each
// reduction chunk of its channels' weights into an L1 buffer, [step][channel], prefetching the
// next chunk's rows meanwhile, and runs every segment over it; an NCHW output is written
// transposed from the tiles (cheap against the long reductions conv2d.cpp uses this kernel for).
#include <type_traits>

#include "common/params.hpp"
#include "common/transpose.hpp"
#include "common/util.hpp"
#include "common/vec.hpp"

#ifndef FASTCONV_ISA
#error "define FASTCONV_ISA before including conv2d_igemm_channels.hpp"
#endif

namespace fastconv {
namespace FASTCONV_ISA {
namespace {

constexpr int kChannelVectors = 2;  // vectors of output channels per tile
// Positions per tile: accumulators for every (position, vector), the weight vectors and a broadcast.
constexpr int kMaxPositions = (kVectorRegisters - kChannelVectors - 1) / kChannelVectors;
// Segments a job runs over each reduction chunk (their partial sums wait in a tile buffer:
// 16 x 14 positions x 32 floats, 28 KiB on AVX-512) and the bytes of a chunk of transposed
// weights: both stay in L1 while every segment reads the chunk.
constexpr int64_t kSegmentsPerJob = 16;
constexpr int64_t kWeightChunkBytes = 8 * 1024;

// Sums of `Rows` positions over `steps` reduction steps (offsets[k], weight[k][0 .. Vectors *
// lanes)), every channel of one block, into tile[r][0 .. Vectors * lanes) (added to what it
// holds unless `first`). Positions r < Split are input + r, the others input + second_row + r -
// Split: a tile may take two whole rows of a narrow plane (a 7x7 plane: 14 positions, not 7).
template <class V, int Rows, int Vectors, int Split = Rows>
inline void channels_tile(const typename V::T* input, int64_t second_row, const int64_t* offsets, int64_t steps,
                          const typename V::T* weight, typename V::T* tile, bool first) {
    using T = typename V::T;
    constexpr int L = V::lanes;
    V acc[Rows][Vectors];
    load_accumulators(acc, tile, Vectors * L, first);
    const T* input_second = input + second_row - Split;
    for (int64_t k = 0; k < steps; ++k) {
        const T* src = input + offsets[k];
        const T* src_second = input_second + offsets[k];
        const T* w = weight + k * (Vectors * L);
        V wv[Vectors];
#pragma GCC unroll 4
        for (int v = 0; v < Vectors; ++v) wv[v] = V::load(w + v * L);
#pragma GCC unroll 16
        for (int r = 0; r < Rows; ++r) {
            const V b = V::broadcast(r < Split ? src[r] : src_second[r]);
#pragma GCC unroll 4
            for (int v = 0; v < Vectors; ++v) acc[r][v] = V::fma(wv[v], b, acc[r][v]);
        }
    }
    store_accumulators(acc, tile, Vectors * L);
}

template <class V, int Rows>
inline void channels_tile_rows(int rows, const typename V::T* input, const int64_t* offsets, int64_t steps,
                               const typename V::T* weight, typename V::T* tile, bool first) {
    if constexpr (Rows > 1) {
        if (rows < Rows) {
            channels_tile_rows<V, Rows - 1>(rows, input, offsets, steps, weight, tile, first);
            return;
        }
    }
    channels_tile<V, Rows, kChannelVectors>(input, 0, offsets, steps, weight, tile, first);
}

// Two whole rows of `width` positions (second_row elements apart) in one tile, width <= Width.
template <class V, int Width>
inline void channels_tile_two_rows(int width, const typename V::T* input, int64_t second_row,
                                   const int64_t* offsets, int64_t steps, const typename V::T* weight,
                                   typename V::T* tile, bool first) {
    if constexpr (Width > 1) {
        if (width < Width) {
            channels_tile_two_rows<V, Width - 1>(width, input, second_row, offsets, steps, weight, tile, first);
            return;
        }
    }
    channels_tile<V, 2 * Width, kChannelVectors, Width>(input, second_row, offsets, steps, weight, tile, first);
}

// Steps [k0, k0 + steps) of the block's `count` weight rows (rows + c * reduction) as
// packed[k - k0][0 .. Width), channels past `count` zero.
template <typename T, int64_t Width>
inline void pack_weight_chunk(const T* rows, int64_t reduction, int64_t count, int64_t k0, int64_t steps,
                              T* packed) {
    if constexpr (Width >= 16) {
        for (int64_t c0 = 0; c0 < Width; c0 += 16) {
            const int64_t block_rows = util::max_i64(0, util::min_i64(16, count - c0));
            const T* first = (block_rows > 0 ? rows + c0 * reduction : rows) + k0;
            for (int64_t k = 0; k < steps; k += 16)
                transpose_16(first + k, reduction, block_rows, util::min_i64(16, steps - k), packed + k * Width + c0,
                             Width);
        }
    } else {  // blocks narrower than 16 channels (the baseline's): element by element
        for (int64_t k = 0; k < steps; ++k)
            for (int64_t c = 0; c < Width; ++c) packed[k * Width + c] = c < count ? rows[c * reduction + k0 + k] : T(0);
    }
}

// tile[r][c] (r < length, c < channels, rows Width apart) + bias[c], through ReLU if `relu`,
// to out[c * plane + r]: the NCHW write of a tile, 16 channels transposed at a time where
// the ISA has the 16x16 transpose (element by element it was a tenth of the kernel's time on
// ResNet's stride-2 layer, each load from another row of the tile).
template <typename T, int64_t Width>
inline void store_tile_planes(const T* tile, int length, int64_t channels, const T* bias, bool relu, T* out,
                              int64_t plane) {
#if defined(FASTCONV_VEC_AVX512)
    if constexpr (std::is_same_v<T, float> && Width % 16 == 0) {
        static_assert(kMaxPositions <= 16, "a tile's positions fit one vector");
        alignas(64) float columns[16 * 16];
        const __mmask16 mask = static_cast<__mmask16>((1u << length) - 1u);
        for (int64_t c0 = 0; c0 < channels; c0 += 16) {
            const int64_t count = util::min_i64(16, channels - c0);
            transpose_16(tile + c0, Width, length, count, columns, 16);
            for (int64_t c = 0; c < count; ++c) {
                __m512 v = _mm512_load_ps(columns + c * 16);
                if (bias) v = _mm512_add_ps(v, _mm512_set1_ps(bias[c0 + c]));
                if (relu) v = VecF32::relu({v}).v;
                _mm512_mask_storeu_ps(out + (c0 + c) * plane, mask, v);
            }
        }
        return;
    }
#endif
    for (int64_t c = 0; c < channels; ++c) {
        const T b = bias ? bias[c] : T(0);
        for (int r = 0; r < length; ++r) {
            const T value = tile[r * Width + c] + b;
            out[c * plane + r] = relu ? util::relu(value) : value;
        }
    }
}

template <typename T>
void igemm_channels(const Conv2dIgemmArgs<T>& a) {
    using V = typename VecFor<T>::type;
    constexpr int64_t width = int64_t(kChannelVectors) * V::lanes;  // channels per block
    static_assert(width % 16 == 0 || width < 16, "weights are transposed 16 channels at a time");
    constexpr int64_t chunk = kWeightChunkBytes / (width * int64_t(sizeof(T)));  // reduction steps
    // Each output row in segments of at most kMaxPositions positions, their lengths differing
    // by one at most (a 27-wide row: 14 + 13, not 14 + 13 computed as 14 + 14); rows of at most
    // half a tile two to a segment. The segments of every image of the batch are one sequence:
    // a job's transposed weight chunk serves the segments of several small planes (a 7x7 plane
    // has 4) instead of one.
    const bool row_pairs = 2 * a.out_width <= kMaxPositions;
    const int64_t segments_per_row = (a.out_width + kMaxPositions - 1) / kMaxPositions;
    const int64_t segments_per_image = row_pairs ? (a.out_height + 1) / 2 : a.out_height * segments_per_row;
    const int64_t segments = a.batch * segments_per_image;
    const int64_t segment_groups = (segments + kSegmentsPerJob - 1) / kSegmentsPerJob;
    const int64_t blocks = (a.out_per_group + width - 1) / width;
    const int64_t plane = a.out_height * a.out_width;
    // Jobs: (group, segment group, channel block), channel blocks innermost: a thread's
    // consecutive jobs read the same input rows (at 2 threads, blocks innermost measured
    // 1.04-1.11x the other order on ResNet's stride-2 64->128 layer, whose blocks' transposed
    // weights, 4 x 72 KiB, stay in L2).
    const int64_t jobs = a.groups * segment_groups * blocks;
    const int threads = a.num_threads;
    FASTCONV_PARALLEL_FOR_JOBS
    for (int64_t job = 0; job < jobs; ++job) {
        const int64_t block = job % blocks;
        const int64_t segment_group = (job / blocks) % segment_groups;
        const int64_t g = job / (segment_groups * blocks);
        const int64_t first_segment = segment_group * segments / segment_groups;
        const int64_t segment_count = (segment_group + 1) * segments / segment_groups - first_segment;
        const T* group_input = a.packed_input + g * a.group_stride;
        const int64_t first_channel = g * a.out_per_group + block * width;
        const int64_t channels = util::min_i64(width, a.out_per_group - block * width);
        const T* rows = a.weight + first_channel * a.reduction;  // the block's weight rows
        alignas(64) T packed[chunk * width];
        alignas(64) T tiles[kSegmentsPerJob][kMaxPositions * width];
        int64_t where[kSegmentsPerJob];     // a segment's first position in the packed images
        int64_t image[kSegmentsPerJob];     // its image
        int64_t position[kSegmentsPerJob];  // and first position in that image's output plane
        int length[kSegmentsPerJob];        // and its positions
        for (int64_t s = 0; s < segment_count; ++s) {
            const int64_t n = (first_segment + s) / segments_per_image;
            const int64_t segment = (first_segment + s) % segments_per_image;
            int64_t oh, ow0;
            if (row_pairs) {
                oh = 2 * segment;
                ow0 = 0;
                length[s] = int(a.out_width * util::min_i64(2, a.out_height - oh));
            } else {
                oh = segment / segments_per_row;
                const int64_t part = segment % segments_per_row;
                ow0 = part * a.out_width / segments_per_row;
                length[s] = int((part + 1) * a.out_width / segments_per_row - ow0);
            }
            where[s] = n * a.image_stride + oh * a.row_pitch + ow0;
            image[s] = n;
            position[s] = oh * a.out_width + ow0;
        }
        for (int64_t k0 = 0; k0 < a.reduction; k0 += chunk) {
            const int64_t steps = util::min_i64(chunk, a.reduction - k0);
            pack_weight_chunk<T, width>(rows, a.reduction, channels, k0, steps, packed);
            // the next chunk's weight rows come from L2 or L3 while this one is computed
            const int64_t next = k0 + chunk, next_steps = util::min_i64(chunk, a.reduction - next);
            for (int64_t c = 0; c < channels && next_steps > 0; ++c)
                for (int64_t k = 0; k < next_steps; k += 64 / int64_t(sizeof(T)))
                    FASTCONV_PREFETCH(rows + c * a.reduction + next + k);
            for (int64_t s = 0; s < segment_count; ++s) {
                if (row_pairs && length[s] > a.out_width)
                    channels_tile_two_rows<V, kMaxPositions / 2>(int(a.out_width), group_input + where[s],
                                                                 a.row_pitch, a.offsets + k0, steps, packed,
                                                                 tiles[s], k0 == 0);
                else
                    channels_tile_rows<V, kMaxPositions>(length[s], group_input + where[s], a.offsets + k0, steps,
                                                         packed, tiles[s], k0 == 0);
            }
        }
        for (int64_t s = 0; s < segment_count; ++s) {
            const T* tile = tiles[s];
            if (a.nhwc) {
                for (int r = 0; r < length[s]; ++r) {
                    T* dst = a.output + (image[s] * plane + position[s] + r) * a.out_channels + first_channel;
                    const T* src = tile + r * width;
                    for (int64_t c = 0; c < channels; ++c) {
                        const T value = src[c] + (a.bias ? a.bias[first_channel + c] : T(0));
                        dst[c] = a.relu ? util::relu(value) : value;
                    }
                }
            } else {
                store_tile_planes<T, width>(tile, length[s], channels, a.bias ? a.bias + first_channel : nullptr,
                                            a.relu, a.output + (image[s] * a.out_channels + first_channel) * plane + position[s],
                                            plane);
            }
        }
    }
}

}  // namespace

void conv2d_f32_igemm_channels(const Conv2dIgemmArgs<float>& a) { igemm_channels(a); }
void conv2d_f64_igemm_channels(const Conv2dIgemmArgs<double>& a) { igemm_channels(a); }

}  // namespace FASTCONV_ISA
}  // namespace fastconv
