#include "conv2d.hpp"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <type_traits>
#include <vector>

#include "common/conv2d_pack.hpp"
#include "common/util.hpp"
#include "dispatch.hpp"
#include "tuning.hpp"

namespace fastconv {
namespace {

// Zero positions after each packed plane, more than any kernel's tile reads past its end.
constexpr int64_t kTileSlack = 256;
// Packed buffers up to this size are kept per calling thread and reused: a fresh allocation
// would be paid again in page faults on every call.
constexpr size_t kCachedScratchBytes = size_t(64) << 20;
// A group packed inside its job must stay in L2 with room to spare (conv2d_tuning().group_pack_bytes).
// Output planes up to this many positions run igemm_channels over several images at once,
// packed together up to a core's L2 (image_pass_bytes; on a 2 MiB-L2 Xeon 1 MiB passes took
// 1.00-1.08x the time of 2 MiB ones on ResNet's batch-8 small-plane layers, each pass
// transposing the weights again).
constexpr int64_t kSmallPlane = 400;
// Depthwise output planes up to this many positions run with the channels in the lanes, and
// an NHWC layer's jobs take kLaneGroupChannels channels over bands of input rows of about
// lane_band_bytes (L2).
constexpr int64_t kLanePlane = 256;
constexpr int64_t kLaneGroupChannels = 128;

enum ScratchSlot { kPackedInput, kWinogradFilters, kWinogradInput, kWinogradProducts, kScratchSlots };

// Scratch of `count` elements (contents undefined): the calling thread's cached buffer when
// small enough, else `fallback` (which then owns the memory).
template <typename T>
T* scratch(size_t count, ScratchSlot slot, std::vector<T>& fallback) {
    thread_local std::vector<T> cached[kScratchSlots];
    std::vector<T>& buffer = count * sizeof(T) <= kCachedScratchBytes ? cached[slot] : fallback;
    if (buffer.size() < count) {
        buffer.clear();
        buffer.shrink_to_fit();
        buffer.resize(count);
    }
    return buffer.data();
}

// (C_out, C_in/groups, KH, KW) -> (KH, KW, C_in/groups, C_out): output channels contiguous, so
// the NHWC direct kernel's innermost loop is a unit-stride multiply-add over them.
template <typename T>
std::vector<T> pack_weight_hwio(const Conv2dArgs<T>& a) {
    const int64_t in_per_group = a.in_channels / a.groups;
    const int64_t kh_count = a.kernel_height, kw_count = a.kernel_width;
    std::vector<T> packed(static_cast<size_t>(kh_count * kw_count * in_per_group * a.out_channels));
    for (int64_t oc = 0; oc < a.out_channels; ++oc)
        for (int64_t ic = 0; ic < in_per_group; ++ic)
            for (int64_t kh = 0; kh < kh_count; ++kh)
                for (int64_t kw = 0; kw < kw_count; ++kw)
                    packed[((kh * kw_count + kw) * in_per_group + ic) * a.out_channels + oc] =
                        a.weight[((oc * in_per_group + ic) * kh_count + kh) * kw_count + kw];
    return packed;
}

template <typename T>
void conv2d_direct(Conv2dArgs<T> args) {
    std::vector<T> packed;
    if (args.nhwc) {
        packed = pack_weight_hwio(args);
        args.weight_hwio = packed.data();
    }
    if constexpr (std::is_same_v<T, float>)
        kernels().conv2d_f32_direct(args);
    else
        kernels().conv2d_f64_direct(args);
}

// Output channels per register block: fewer rows waste less on small groups (depthwise: 1),
// more rows reuse each loaded input vector more often.
// With 32 vector registers (AVX-512) an 8-row block of 3 vectors also fits: 64 or 128 channels
// are then whole blocks, not 11 or 22 blocks of 6 with rows computed for nothing. `eight_rows`:
// measured faster for stride-1 layers with several taps (ResNet 3x3 64@56 and 128@28: 1-6% in
// A/B runs), not for 1x1 or stride-2 ones (within noise, one run 20% slower) nor for a short
// reduction (the lecture's 3-channel layer: 0-6% slower).
int choose_block_rows(int64_t out_per_group, bool eight_rows = false) {
    const bool wide = eight_rows && std::strcmp(kernels().isa, "avx512") == 0;
    int best = 1;
    double best_cost = -1;
    for (int rows : {8, 6, 4, 2, 1}) {
        if (rows == 8 && !wide) continue;
        const int vectors = rows == 8 ? 3 : 4;
        const int64_t blocks = (out_per_group + rows - 1) / rows;
        // per vector of positions: FMAs, and loads + broadcasts at half weight
        const double cost = double(blocks) * (rows * vectors + 0.5 * (vectors + rows)) / vectors;
        if (best_cost < 0 || cost < best_cost) {
            best = rows;
            best_cost = cost;
        }
    }
    return best;
}

// Input rows and columns the output reads, from the first padded cell: (out - 1) * stride +
// the dilated kernel.
template <typename T>
int64_t rows_read(const Conv2dArgs<T>& a) {
    return (a.out_height - 1) * a.stride_h + (a.kernel_height - 1) * a.dilation_h + 1;
}

template <typename T>
int64_t cols_read(const Conv2dArgs<T>& a) {
    return (a.out_width - 1) * a.stride_w + (a.kernel_width - 1) * a.dilation_w + 1;
}

// The packed layout of an input channel for this convolution: zero padding and stride phases,
// rows long enough for every output row's reach, `slack` zeros after each plane for igemm's tiles.
// `in_place`: the caller's NCHW planes as they are (stride 1, no padding read).
// `share_padding`: a row's right padding is the next row's left padding (reads past the pitch
// wrap into zeros), which cuts a pitch of W + 2 to W + 1: fewer junk columns computed, and a
// 13x13 plane (AlexNet) fills three 64-position tiles instead of three and a sliver.
template <typename T>
PackGeometry pack_geometry(const Conv2dArgs<T>& a, bool in_place, bool share_padding = false,
                           int64_t slack = kTileSlack) {
    const int64_t sh = a.stride_h, sw = a.stride_w;
    PackGeometry g;
    g.in_channels = a.in_channels;
    g.in_height = a.in_height;
    g.in_width = a.in_width;
    g.stride_h = sh;
    g.stride_w = sw;
    g.pad_top = a.pad_top;
    g.pad_left = a.pad_left;
    g.nhwc = a.nhwc;
    g.phase_rows = (rows_read(a) + sh - 1) / sh;
    g.pitch = in_place ? a.in_width : (cols_read(a) + sw - 1) / sw;
    if (share_padding && !in_place) {
        // every phase's input columns and every output row must fit a row (q1, out_width <= pitch),
        // and the columns read past the pitch must land in the next row's left padding
        // (full pitch - pitch <= q0)
        int64_t data_end = 0, left_zeros = g.pitch;
        for (int64_t pw = 0; pw < sw; ++pw) {
            int64_t q0, q1;
            util::valid_output_range(pw - a.pad_left, sw, a.in_width, g.pitch, &q0, &q1);
            data_end = util::max_i64(data_end, q1);
            left_zeros = util::min_i64(left_zeros, q0);
        }
        g.pitch = util::max_i64(a.out_width, util::max_i64(data_end, g.pitch - left_zeros));
    }
    const int64_t max_a = (a.kernel_height - 1) * a.dilation_h / sh;
    const int64_t max_b = (a.kernel_width - 1) * a.dilation_w / sw;
    g.plane = in_place ? a.in_height * a.in_width
                       : util::max_i64(g.phase_rows * g.pitch, (a.out_height + max_a) * g.pitch + max_b) + slack;
    return g;
}

// Where tap (kh, kw) of output position 0 reads in a packed channel: its stride phase's plane,
// then a = kh*dh / sh rows and b = kw*dw / sw columns in.
template <typename T>
int64_t tap_offset(const Conv2dArgs<T>& a, const PackGeometry& g, int64_t kh, int64_t kw) {
    const int64_t rh = kh * a.dilation_h, rw = kw * a.dilation_w;
    return ((rh % a.stride_h) * a.stride_w + rw % a.stride_w) * g.plane + (rh / a.stride_h) * g.pitch +
           rw / a.stride_w;
}

// Stride 1 without padding: the caller's NCHW input can be read as it is, no packing.
template <typename T>
bool reads_in_place(const Conv2dArgs<T>& a) {
    return !a.nhwc && a.stride_h == 1 && a.stride_w == 1 && a.pad_top == 0 && a.pad_left == 0 &&
           rows_read(a) <= a.in_height && cols_read(a) <= a.in_width;
}

// The implicit GEMM reads input (ic, oh*sh + kh*dh - pad_top, ow*sw + kw*dw - pad_left) as
// packed[ic][phase][oh + a][ow + b] with phase = (kh*dh % sh, kw*dw % sw), a = kh*dh / sh,
// b = kw*dw / sw: splitting each padded channel into its sh x sw stride phases makes every
// reduction step a contiguous run over the output positions (row pitch = phase width).
// `channels_in_lanes`: the igemm_channels kernel (output channels in the vector lanes) instead
// of igemm's (positions in the lanes); both read the same packed input through `offsets`.
template <typename T>
void conv2d_igemm(const Conv2dArgs<T>& a, bool channels_in_lanes = false) {
    const KernelTable& table = kernels();  // one level for the whole call, whatever another thread sets
    const int64_t sh = a.stride_h, sw = a.stride_w;
    const bool unpacked = reads_in_place(a);
    // igemm_channels reads real positions only: no slack after the planes for tiles to run into
    const PackGeometry geometry =
        pack_geometry(a, unpacked, /*share_padding=*/true, channels_in_lanes ? 0 : kTileSlack);
    const int64_t pitch = geometry.pitch, plane = geometry.plane;
    const int64_t max_a = (a.kernel_height - 1) * a.dilation_h / sh;
    const int64_t channel_stride = sh * sw * plane;
    const int64_t image_stride = a.in_channels * channel_stride;  // one packed image
    // Many small groups: each job packs its group into the thread's slice of scratch.
    const int64_t group_elements = a.in_channels / a.groups * channel_stride;
    const bool per_group = !channels_in_lanes && !unpacked && a.groups >= 2 * int64_t(a.num_threads) &&
                           group_elements * int64_t(sizeof(T)) <= conv2d_tuning().group_pack_bytes;
    // igemm_channels on small planes: several images packed together and run as one sequence
    // of row segments, so that each job's transposed weight chunk serves the rows of several
    // images (a 7x7 plane alone has 7 rows for it).
    const int64_t pass_images =
        channels_in_lanes && !unpacked && a.batch > 1 && a.out_height * a.out_width <= kSmallPlane
            ? util::max_i64(1, util::min_i64(a.batch, conv2d_tuning().image_pass_bytes / (image_stride * int64_t(sizeof(T)))))
            : 1;
    // Otherwise a batch of at least one image per thread runs whole images per thread (no
    // sharing, no synchronisation inside an image); a smaller batch splits each image over the
    // threads.
    const bool image_parallel = pass_images == 1 && a.num_threads > 1 && a.batch >= a.num_threads;
    const int64_t per_thread = per_group ? group_elements : image_stride;
    const int64_t slices = (per_group || image_parallel) ? a.num_threads : pass_images;
    std::vector<T> input_fallback;
    T* packed_input =
        unpacked ? nullptr : scratch(static_cast<size_t>(per_thread * slices), kPackedInput, input_fallback);
    const int64_t image_elements = a.in_channels * a.in_height * a.in_width;
    const int64_t output_elements = a.out_channels * a.out_height * a.out_width;

    // Only the stride phases some tap reads are packed: a 1x1 stride-2 layer (ResNet's
    // downsampling shortcut) reads one of its four.
    std::vector<int64_t> used_phases;
    for (int64_t ph = 0; ph < sh; ++ph)
        for (int64_t pw = 0; pw < sw; ++pw) {
            bool used = false;
            for (int64_t kh = 0; kh < a.kernel_height; ++kh)
                for (int64_t kw = 0; kw < a.kernel_width; ++kw)
                    used = used || ((kh * a.dilation_h) % sh == ph && (kw * a.dilation_w) % sw == pw);
            if (used) used_phases.push_back(ph * sw + pw);
        }
    const int64_t phases = static_cast<int64_t>(used_phases.size());
    // Pack one pass of images (one image, or a few small ones for igemm_channels) just before
    // the kernel reads it, so that the packed copy is still in cache. Jobs are (image, channel,
    // stride phase): a 3-channel image at stride 4 (AlexNet's first layer) is 48 jobs, not 3
    // that two threads would share 2 to 1.
    auto pack_images = [&](const T* first, int64_t images) {
        const int64_t jobs = images * a.in_channels * phases;
        const int threads = a.num_threads;
        FASTCONV_PARALLEL_FOR_JOBS
        for (int64_t job = 0; job < jobs; ++job) {
            const int64_t channel = job / phases % a.in_channels, image = job / phases / a.in_channels;
            packing::pack_channel(geometry, first + image * image_elements, channel,
                                  packed_input + image * image_stride + channel * channel_stride,
                                  used_phases[static_cast<size_t>(job % phases)]);
        }
    };

    const int64_t in_per_group = a.in_channels / a.groups;
    const int64_t out_per_group = a.out_channels / a.groups;
    const int64_t taps = a.kernel_height * a.kernel_width;
    const int64_t reduction = in_per_group * taps;
    std::vector<int64_t> offsets(static_cast<size_t>(reduction + kPrefetchSteps));
    for (int64_t ic = 0; ic < in_per_group; ++ic)
        for (int64_t kh = 0; kh < a.kernel_height; ++kh)
            for (int64_t kw = 0; kw < a.kernel_width; ++kw)
                offsets[static_cast<size_t>((ic * a.kernel_height + kh) * a.kernel_width + kw)] =
                    ic * channel_stride + tap_offset(a, geometry, kh, kw);
    for (int64_t k = reduction; k < reduction + kPrefetchSteps; ++k)  // prefetch spares repeat the last
        offsets[static_cast<size_t>(k)] = offsets[static_cast<size_t>(reduction - 1)];

    const int rows = choose_block_rows(out_per_group, taps > 1 && sh == 1 && sw == 1 && reduction >= 64);
    const int64_t blocks = (out_per_group + rows - 1) / rows;

    Conv2dIgemmArgs<T> g;
    g.packed_input = packed_input;
    g.image_stride = image_stride;
    g.group_stride = in_per_group * channel_stride;
    g.offsets = offsets.data();
    g.reduction = reduction;
    g.weight = a.weight;
    g.block_rows = rows;
    g.blocks = blocks;
    g.bias = a.bias;
    g.output = a.output;
    g.batch = 1;
    g.groups = a.groups;
    g.out_per_group = out_per_group;
    g.out_channels = a.out_channels;
    g.out_height = a.out_height;
    g.out_width = a.out_width;
    g.row_pitch = pitch;
    g.tap_rows = max_a;
    g.taps = taps;
    g.relu = a.relu;
    g.nhwc = a.nhwc;
    g.num_threads = a.num_threads;
    // Unpacked, the last reads of the last channel must stop at the input's end: the junk
    // columns of the last output row are the only positions that would run past it.
    g.load_limit = unpacked ? a.out_height * pitch - (pitch - a.out_width) : a.out_height * pitch;
    g.pack_per_group = per_group;
    g.pack = geometry;
    g.group_scratch = per_group ? packed_input : nullptr;
    auto run_kernel = [&table, channels_in_lanes](const Conv2dIgemmArgs<T>& args) {
        if constexpr (std::is_same_v<T, float>)
            (channels_in_lanes ? table.conv2d_f32_igemm_channels : table.conv2d_f32_igemm)(args);
        else
            (channels_in_lanes ? table.conv2d_f64_igemm_channels : table.conv2d_f64_igemm)(args);
    };
    if (image_parallel) {
        const int64_t jobs = a.batch;
        const int threads = a.num_threads;
        FASTCONV_PARALLEL_FOR_JOBS
        for (int64_t job = 0; job < jobs; ++job) {
            Conv2dIgemmArgs<T> mine = g;
            mine.num_threads = 1;
            mine.input = a.input + job * image_elements;
            mine.output = a.output + job * output_elements;
            if (per_group) {
                // this thread's slice: inside the kernel's one-thread region every thread is
                // number 0 (two images once packed their groups into the same slice)
                mine.group_scratch = packed_input + util::thread_index() * group_elements;
            } else if (unpacked) {
                mine.packed_input = mine.input;
            } else {
                T* own = packed_input + util::thread_index() * image_stride;
                for (int64_t c = 0; c < a.in_channels; ++c)
                    for (const int64_t phase : used_phases)
                        packing::pack_channel(geometry, mine.input, c, own + c * channel_stride, phase);
                mine.packed_input = own;
            }
            run_kernel(mine);
        }
        return;
    }
    for (int64_t n = 0; n < a.batch; n += pass_images) {
        g.batch = util::min_i64(pass_images, a.batch - n);
        g.input = a.input + n * image_elements;
        if (unpacked)
            g.packed_input = g.input;
        else if (!per_group)
            pack_images(g.input, g.batch);
        g.output = a.output + n * output_elements;
        run_kernel(g);
    }
}


// C (M x N) = A (M x K, row-major) x B (row k at B + k * ldb, N used and kTileSlack more
// readable) through the igemm kernels: a 1x1 convolution of a K-channel, 1 x N image.
template <typename T>
void gemm(int64_t M, int64_t N, int64_t K, const T* A, const T* B, int64_t ldb, T* C, int num_threads) {
    std::vector<int64_t> offsets(static_cast<size_t>(K + kPrefetchSteps));  // prefetch spares repeat the last row
    for (int64_t k = 0; k < K + kPrefetchSteps; ++k) offsets[static_cast<size_t>(k)] = util::min_i64(k, K - 1) * ldb;
    Conv2dIgemmArgs<T> g;
    g.packed_input = B;
    g.offsets = offsets.data();
    g.reduction = K;
    g.weight = A;
    g.block_rows = choose_block_rows(M);
    g.blocks = (M + g.block_rows - 1) / g.block_rows;
    g.output = C;
    g.batch = 1;
    g.out_per_group = M;
    g.out_channels = M;
    g.out_height = 1;
    g.out_width = N;
    g.row_pitch = N;
    g.load_limit = N;
    g.num_threads = num_threads;
    if constexpr (std::is_same_v<T, float>)
        kernels().conv2d_f32_igemm(g);
    else
        kernels().conv2d_f64_igemm(g);
}

// Winograd F(2x2, 3x3) (Lavin & Gray): per 4x4 input tile d and 3x3 filter g,
// Y = A^T [(G g G^T) . (B^T d B)] A gives a 2x2 output tile with 16 multiplies instead of 36.
// The 16 element-wise products summed over input channels are 16 GEMMs,
// M[xi] (C_out x tiles) = U[xi] (C_out x C_in) x V[xi] (C_in x tiles), run by the igemm kernels.
template <typename T>
void conv2d_winograd(const Conv2dArgs<T>& a) {
    const int64_t C = a.in_channels, O = a.out_channels, OH = a.out_height, OW = a.out_width;
    const int64_t tile_rows = (OH + 1) / 2, tile_cols = (OW + 1) / 2, tiles = tile_rows * tile_cols;
    const int64_t ldv = tiles + kTileSlack;
    // The 16 planes of V and M are written (read) side by side: a plane size that is a multiple
    // of 4 KiB would put all 16 streams in the same L1 sets, so each plane gets a little extra.
    const int64_t u_plane = O * C + 16, v_plane = C * ldv + 16, m_plane = O * tiles + 16;
    const int threads = a.num_threads;

    std::vector<T> u_fallback, v_fallback, m_fallback;
    T* U = scratch(static_cast<size_t>(16 * u_plane), kWinogradFilters, u_fallback);
    T* V = scratch(static_cast<size_t>(16 * v_plane), kWinogradInput, v_fallback);
    T* M = scratch(static_cast<size_t>(16 * m_plane), kWinogradProducts, m_fallback);
    {  // U = G g G^T, G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
        const int64_t jobs = O;
        FASTCONV_PARALLEL_FOR_JOBS
        for (int64_t job = 0; job < jobs; ++job)
            for (int64_t c = 0; c < C; ++c) {
                const T* g = a.weight + (job * C + c) * 9;
                T gg[4][3];
                for (int s = 0; s < 3; ++s) {
                    gg[0][s] = g[s];
                    gg[1][s] = (g[s] + g[3 + s] + g[6 + s]) / 2;
                    gg[2][s] = (g[s] - g[3 + s] + g[6 + s]) / 2;
                    gg[3][s] = g[6 + s];
                }
                for (int r = 0; r < 4; ++r) {
                    const T u[4] = {gg[r][0], (gg[r][0] + gg[r][1] + gg[r][2]) / 2,
                                    (gg[r][0] - gg[r][1] + gg[r][2]) / 2, gg[r][2]};
                    for (int s = 0; s < 4; ++s) U[(r * 4 + s) * u_plane + job * C + c] = u[s];
                }
            }
    }
    const int64_t in_plane = a.in_height * a.in_width;

    for (int64_t n = 0; n < a.batch; ++n) {
        {  // V = B^T d B, B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], one channel per job
            const int64_t jobs = C;
            FASTCONV_PARALLEL_FOR_JOBS
            for (int64_t job = 0; job < jobs; ++job) {
                std::vector<T> rows(static_cast<size_t>(4 * (2 * tile_cols + 2)));
                const int64_t width = 2 * tile_cols + 2;
                for (int64_t i = 0; i < tile_rows; ++i) {
                    for (int r = 0; r < 4; ++r) {  // input rows 2i - top + r, zero outside
                        T* row = rows.data() + r * width;
                        const int64_t ih = 2 * i - a.pad_top + r;
                        int64_t q0, q1;  // row[q] holds input column q - pad_left for q in [q0, q1)
                        util::valid_output_range(-a.pad_left, 1, a.in_width, width, &q0, &q1);
                        if (ih < 0 || ih >= a.in_height) q0 = q1 = 0;
                        for (int64_t q = 0; q < q0; ++q) row[q] = T(0);
                        for (int64_t q = q1; q < width; ++q) row[q] = T(0);
                        if (a.nhwc) {
                            const T* src = a.input + ((n * a.in_height + ih) * a.in_width - a.pad_left) * C + job;
                            for (int64_t q = q0; q < q1; ++q) row[q] = src[q * C];
                        } else {
                            const T* src = a.input + (n * C + job) * in_plane + ih * a.in_width - a.pad_left;
                            for (int64_t q = q0; q < q1; ++q) row[q] = src[q];
                        }
                    }
                    T* v = V + job * ldv + i * tile_cols;
                    const int64_t xi_stride = v_plane;
                    for (int64_t j = 0; j < tile_cols; ++j) {
                        T e[4][4];  // rows of B^T d, per column s
                        for (int s = 0; s < 4; ++s) {
                            const T d0 = rows[0 * width + 2 * j + s], d1 = rows[1 * width + 2 * j + s];
                            const T d2 = rows[2 * width + 2 * j + s], d3 = rows[3 * width + 2 * j + s];
                            e[0][s] = d0 - d2;
                            e[1][s] = d1 + d2;
                            e[2][s] = d2 - d1;
                            e[3][s] = d1 - d3;
                        }
                        for (int r = 0; r < 4; ++r) {
                            v[(r * 4 + 0) * xi_stride + j] = e[r][0] - e[r][2];
                            v[(r * 4 + 1) * xi_stride + j] = e[r][1] + e[r][2];
                            v[(r * 4 + 2) * xi_stride + j] = e[r][2] - e[r][1];
                            v[(r * 4 + 3) * xi_stride + j] = e[r][1] - e[r][3];
                        }
                    }
                }
            }
        }
        for (int64_t xi = 0; xi < 16; ++xi)
            gemm(O, tiles, C, U + xi * u_plane, V + xi * v_plane, ldv, M + xi * m_plane, threads);
        {  // Y = A^T m A, A^T = [1 1 1 0; 0 1 -1 -1], plus bias and ReLU, one output channel per job
            const int64_t jobs = O;
            const int64_t out_plane = OH * OW;
            FASTCONV_PARALLEL_FOR_JOBS
            for (int64_t job = 0; job < jobs; ++job) {
                const T bias = a.bias ? a.bias[job] : T(0);
                std::vector<T> pair(static_cast<size_t>(4 * tile_cols));  // two output rows of a tile row
                T* top = pair.data();
                T* bottom = top + 2 * tile_cols;
                for (int64_t i = 0; i < tile_rows; ++i) {
                    const T* m = M + job * tiles + i * tile_cols;  // m[xi * m_plane + j]
                    const int64_t xs = m_plane;
                    for (int64_t j = 0; j < tile_cols; ++j) {
                        T s[4], d[4];
                        for (int c = 0; c < 4; ++c) {
                            const T m0 = m[c * xs + j], m1 = m[(4 + c) * xs + j];
                            const T m2 = m[(8 + c) * xs + j], m3 = m[(12 + c) * xs + j];
                            s[c] = m0 + m1 + m2;
                            d[c] = m1 - m2 - m3;
                        }
                        top[2 * j] = s[0] + s[1] + s[2];
                        top[2 * j + 1] = s[1] - s[2] - s[3];
                        bottom[2 * j] = d[0] + d[1] + d[2];
                        bottom[2 * j + 1] = d[1] - d[2] - d[3];
                    }
                    for (int r = 0; r < 2 && 2 * i + r < OH; ++r) {
                        const T* src = r == 0 ? top : bottom;
                        const int64_t oh = 2 * i + r;
                        if (a.nhwc) {
                            T* dst = a.output + (n * out_plane + oh * OW) * O + job;
                            for (int64_t ow = 0; ow < OW; ++ow) {
                                const T v = src[ow] + bias;
                                dst[ow * O] = a.relu ? util::relu(v) : v;
                            }
                        } else {
                            T* dst = a.output + (n * O + job) * out_plane + oh * OW;
                            if (a.relu)
                                for (int64_t ow = 0; ow < OW; ++ow) dst[ow] = util::relu(src[ow] + bias);
                            else
                                for (int64_t ow = 0; ow < OW; ++ow) dst[ow] = src[ow] + bias;
                        }
                    }
                }
            }
        }
    }
}

// One filter per channel (groups == C_in == C_out): its own kernel, each job packing one
// channel (NCHW) or vector of channels (small NCHW planes, NHWC) into the thread's scratch.
template <typename T>
bool is_depthwise(const Conv2dArgs<T>& a) {
    return a.groups == a.in_channels && a.out_channels == a.in_channels;
}

// 'auto' takes the depthwise kernel when there are at least two (image, channel) pairs per
// thread; a single-channel image (filter2d) runs igemm, whose jobs are tiles of the image.
template <typename T>
bool prefer_depthwise(const Conv2dArgs<T>& a) {
    return is_depthwise(a) && a.batch * a.in_channels >= 2 * int64_t(a.num_threads);
}

// Lanes of the vectors the kernels of the chosen level use for T.
template <typename T>
int64_t vector_lanes() {
    const char* isa = kernels().isa;
    const int64_t bytes = std::strcmp(isa, "avx512") == 0 ? 64 : std::strcmp(isa, "avx2") == 0 ? 32 : 16;
    return bytes / int64_t(sizeof(T));
}

// Depthwise with the channels in the lanes where the plane's rows fit a vector each, on planes
// of at most kLanePlane positions (measured, 2 threads, against the row kernel: 7x7 planes
// 0.49-0.57x the time at AVX-512 and AVX2, 14x14 0.63-0.82x at AVX-512 and 0.94-1.03x at AVX2;
// 16x16 at AVX2 1.2x, 20x20 and 28x28 (5x5) at AVX-512 1.5-1.6x).
// NHWC always: its channels are already the contiguous axis.
template <typename T>
bool depthwise_in_lanes(const Conv2dArgs<T>& a) {
    return a.nhwc || (a.out_width <= vector_lanes<T>() && a.out_height * a.out_width <= kLanePlane);
}

template <typename T>
void conv2d_depthwise(const Conv2dArgs<T>& a) {
    Conv2dDepthwiseArgs<T> d;
    d.pack = pack_geometry(a, false);
    d.channel_stride = a.stride_h * a.stride_w * d.pack.plane;
    std::vector<T> fallback;
    if (depthwise_in_lanes(a)) {
        d.channels_in_lanes = true;
        d.nhwc = a.nhwc;
        constexpr int64_t lanes = 16;  // the widest vector of any level (float32, AVX-512)
        const int64_t taps = a.kernel_height * a.kernel_width;
        if (a.nhwc) {
            // jobs of up to kLaneGroupChannels channels (whole vectors at every level) over bands of
            // output rows whose input rows take about lane_band_bytes; scratch: the group's weights
            d.group_channels = util::min_i64(kLaneGroupChannels, (a.in_channels + lanes - 1) / lanes * lanes);
            const int64_t tap_rows = (a.kernel_height - 1) * a.dilation_h + 1;
            const int64_t input_rows = conv2d_tuning().lane_band_bytes / (a.in_width * d.group_channels * int64_t(sizeof(T)));
            d.band_rows = util::max_i64(1, util::min_i64(a.out_height, (input_rows - tap_rows) / a.stride_h + 1));
            d.lane_slice = taps * d.group_channels;
        } else {  // small planes: weights, the padded cells of a vector of channels, its results
            d.band_rows = a.out_height;
            d.cols_read = cols_read(a);
            d.lane_slice = (taps + rows_read(a) * d.cols_read + a.out_height * a.out_width) * lanes;
        }
        d.scratch = scratch(static_cast<size_t>(d.lane_slice * a.num_threads), kPackedInput, fallback);
    } else {
        d.scratch = scratch(static_cast<size_t>(d.channel_stride * a.num_threads), kPackedInput, fallback);
        std::fill(d.scratch, d.scratch + d.channel_stride * a.num_threads, T(0));  // the padding, once for every channel
    }
    std::vector<int64_t> tap_offsets(static_cast<size_t>(a.kernel_height * a.kernel_width));
    for (int64_t kh = 0; kh < a.kernel_height; ++kh)
        for (int64_t kw = 0; kw < a.kernel_width; ++kw)
            tap_offsets[static_cast<size_t>(kh * a.kernel_width + kw)] = tap_offset(a, d.pack, kh, kw);
    d.tap_offsets = tap_offsets.data();
    d.input = a.input;
    d.weight = a.weight;
    d.bias = a.bias;
    d.output = a.output;
    d.batch = a.batch;
    d.channels = a.in_channels;
    d.out_height = a.out_height;
    d.out_width = a.out_width;
    d.kernel_height = a.kernel_height;
    d.kernel_width = a.kernel_width;
    d.dilation_h = a.dilation_h;
    d.dilation_w = a.dilation_w;
    d.relu = a.relu;
    d.num_threads = a.num_threads;
    if constexpr (std::is_same_v<T, float>)
        kernels().conv2d_f32_depthwise(d);
    else
        kernels().conv2d_f64_depthwise(d);
}

// A 1x1, stride-1, unpadded NHWC convolution is one GEMM with nothing to pack but the weight:
// out (N*H*W x C_out) = x (N*H*W x C_in, the caller's array as it is) x weight^T, the output
// already in NHWC order. Run by the igemm kernels with the positions as their rows (broadcast,
// contiguous along C_in) and the transposed weight as their contiguous operand; bias and ReLU
// in a pass over the result.
template <typename T>
bool is_pointwise_nhwc(const Conv2dArgs<T>& a) {
    return a.nhwc && a.kernel_height == 1 && a.kernel_width == 1 && a.stride_h == 1 && a.stride_w == 1 &&
           a.pad_top == 0 && a.pad_left == 0 && a.groups == 1 && a.out_height == a.in_height &&
           a.out_width == a.in_width;
}

template <typename T>
void conv2d_pointwise_nhwc(const Conv2dArgs<T>& a) {
    const int64_t positions = a.batch * a.in_height * a.in_width;
    const int64_t K = a.in_channels, N = a.out_channels;
    const int64_t ldb = N + kTileSlack;
    std::vector<T> transposed(static_cast<size_t>(K * ldb), T(0));
    for (int64_t o = 0; o < N; ++o)
        for (int64_t k = 0; k < K; ++k) transposed[static_cast<size_t>(k * ldb + o)] = a.weight[o * K + k];
    gemm(positions, N, K, a.input, transposed.data(), ldb, a.output, a.num_threads);
    if (!a.bias && !a.relu) return;
    const int64_t jobs = positions;
    const int threads = a.num_threads;
    FASTCONV_PARALLEL_FOR_JOBS
    for (int64_t job = 0; job < jobs; ++job) {
        T* row = a.output + job * N;
        if (a.bias)
            for (int64_t o = 0; o < N; ++o) row[o] += a.bias[o];
        if (a.relu)
            for (int64_t o = 0; o < N; ++o) row[o] = util::relu(row[o]);
    }
}

// 'auto' takes igemm_channels where it measured faster than igemm (AVX-512, float32, 1 and 2
// threads, A/B runs in one process): ungrouped, undilated layers with a reduction of 512 or
// more whose output channels fill its 32-channel blocks (128 -> 40 channels: 1.4-1.5x igemm's
// time, the second block three-quarters empty). Multi-tap: 0.74-0.99x igemm's time on ResNet
// and VGG 3x3 layers from 7x7 to 224x224 planes, stride 1 and 2, batch 1 and 8 (64@56 batch 8
// 0.98-1.02x), AlexNet conv3-5 0.85-0.91x, NHWC 0.73-0.97x. 1x1: NCHW planes of <= 256
// positions (ResNet's 14x14 and 7x7 ones, and the stride-2 shortcuts onto them: 0.70-0.98x; a
// 20x20 plane 1.05x, 56x56 planes 1.4-2.2x). Not at other levels (AVX2 measured no faster).
template <typename T>
bool prefer_igemm_channels(const Conv2dArgs<T>& a) {
    const int64_t block = 2 * vector_lanes<T>();  // output channels per igemm_channels block
    const int64_t taps = a.kernel_height * a.kernel_width;
    const int64_t out_per_group = a.out_channels / a.groups;
    const bool lanes_filled = ((out_per_group + block - 1) / block) * block * 100 <= out_per_group * 115;
    return std::is_same_v<T, float> && std::strcmp(kernels().isa, "avx512") == 0 && a.groups == 1 &&
           a.dilation_h == 1 && a.dilation_w == 1 && a.in_channels * taps >= 512 && lanes_filled &&
           (taps > 1 || (!a.nhwc && a.out_height * a.out_width <= 256));
}

// 'auto' takes Winograd F(2x2, 3x3) below AVX-512 (AVX2 and the SSE2 / NEON baseline), where
// the multiplies bound a 3x3 layer and F(2x2, 3x3) does 16 per 2x2 outputs instead of 36. AMD
// EPYC Zen 1 (AVX2, L3 8 MiB), warm, one process alternating the algorithms, median of 7-9: its
// time against igemm's on ResNet 3x3 layers 64@56, 128@28, 256@14 (batch 1 and 8), 64->128@56 and
// VGG 64@224, 0.63-0.84x (1 and 2 threads, float32 NCHW); float64 0.59-0.78x; NHWC 0.71-0.84x;
// baseline level 0.52-0.56x. Not on small channel counts (16@64: 1.3x igemm's time; 3->64:
// 5x) nor planes under 14x14 (AlexNet's 13x13: 0.93-1.06x, 512@7: 1.02-1.14x). AVX-512 keeps
// igemm (about equal there, 0.8-1.2x). The transforms' scratch (16 planes of the input's and
// the output's channels per image) is kept per calling thread: layers needing more than 32 MiB
// (VGG's 64@224 and 128@112) stay on igemm.
template <typename T>
bool prefer_winograd(const Conv2dArgs<T>& a) {
    if (std::strcmp(kernels().isa, "avx512") == 0) return false;
    if (a.kernel_height != 3 || a.kernel_width != 3 || a.stride_h != 1 || a.stride_w != 1 || a.dilation_h != 1 ||
        a.dilation_w != 1 || a.groups != 1 || a.in_channels < 64 || a.out_channels < 64 ||
        a.out_height * a.out_width < 196)
        return false;
    const int64_t tiles = ((a.out_height + 1) / 2) * ((a.out_width + 1) / 2);
    const int64_t scratch_bytes = 16 * (a.in_channels + a.out_channels) * tiles * int64_t(sizeof(T));
    return scratch_bytes <= (int64_t(32) << 20);
}

}  // namespace

template <typename T>
void conv2d(Conv2dArgs<T> args, Conv2dAlgorithm algorithm) {
    if (algorithm == Conv2dAlgorithm::depthwise ||
        (algorithm == Conv2dAlgorithm::automatic && prefer_depthwise(args))) {
        conv2d_depthwise(args);
        return;
    }
    if (algorithm == Conv2dAlgorithm::direct)
        conv2d_direct(args);
    else if (algorithm == Conv2dAlgorithm::winograd ||
             (algorithm == Conv2dAlgorithm::automatic && prefer_winograd(args)))
        conv2d_winograd(args);
    else if (algorithm == Conv2dAlgorithm::igemm_channels ||
             (algorithm == Conv2dAlgorithm::automatic && prefer_igemm_channels(args)))
        conv2d_igemm(args, /*channels_in_lanes=*/true);
    else if (is_pointwise_nhwc(args))
        conv2d_pointwise_nhwc(args);
    else
        conv2d_igemm(args);
}

template void conv2d<float>(Conv2dArgs<float>, Conv2dAlgorithm);
template void conv2d<double>(Conv2dArgs<double>, Conv2dAlgorithm);

}  // namespace fastconv
