// Implicit-GEMM convolution microkernel and driver. Included once per ISA by
// conv2d_igemm_<isa>.cpp, which defines FASTCONV_ISA and the vector macro (common/vec.hpp).
//
// The output of one (image, group) is a matrix [C_out/groups] x [positions]; positions run over
// the output rows with a pitch of row_pitch (a few junk columns per row are computed and never
// stored). A tile is block_rows output channels x kTileVectors vectors of positions, held in
// registers; each reduction step broadcasts block_rows packed weights and loads kTileVectors
// contiguous input vectors at offsets[k] + p (conv2d.cpp packed the input so this holds for
// every stride, dilation and padding). The weights are read in place, one pointer per output
// channel of the block: successive steps read successive floats of each row, so the rows stream
// through L1 without a packed copy. Bias and ReLU are applied as the tile is stored.
//
// Cache blocking: a job is (image, group, position tile, super-block of output channels); the
// reduction runs in chunks of whole input channels sized so the chunk's input rows stay in L1,
// and every register block of the super-block runs over a chunk before the next chunk, partial
// sums parked in a small tile buffer.
#include "common/conv2d_pack.hpp"
#include "common/params.hpp"
#include "common/util.hpp"
#include "common/vec.hpp"

#ifndef FASTCONV_ISA
#error "define FASTCONV_ISA before including conv2d_igemm.hpp"
#endif

namespace fastconv {
namespace FASTCONV_ISA {
namespace {

// Accumulators: rows x vectors registers, plus the loaded vectors and one broadcast.
template <int Rows>
constexpr int tile_vectors() {
    return Rows == 1 ? 8 : (kVectorRegisters - 1) / (Rows + 1) < 4 ? (kVectorRegisters - 1) / (Rows + 1) : 4;
}

// Where a tile goes after its last reduction chunk when none of its positions is a junk column
// (rows without junk columns, or row tiles): straight into the output (bias added, ReLU after),
// not through the tile buffer.
template <typename T>
struct DirectStore {
    T* out[8];       // row r's first position in the output
    T bias[8];
    int rows = 0;    // rows that exist (the block's last rows may repeat the group's last channel)
    int64_t count = 0;  // positions to store
};

// `valid` < Vectors * lanes: only the first `valid` positions are loaded (the input ends there).
// Row r of the tile buffer starts at tile + r * row_stride.
template <class V, int Rows, int Vectors, bool Partial, bool Prefetch>
inline void igemm_tile(const typename V::T* input, const int64_t* offsets, int64_t k_begin, int64_t k_end,
                       const typename V::T* const* weight, typename V::T* tile, int64_t row_stride,
                       bool first, int64_t valid, const DirectStore<typename V::T>* direct) {
    using T = typename V::T;
    constexpr int L = V::lanes;
    V acc[Rows][Vectors];
    load_accumulators(acc, tile, row_stride, first);
    for (int64_t k = k_begin; k < k_end; ++k) {
        const T* src = input + offsets[k];
        if constexpr (Prefetch) {  // offsets has kPrefetchSteps spare entries past the end
            const T* ahead = input + offsets[k + kPrefetchSteps];
#pragma GCC unroll 8
            for (int v = 0; v < Vectors; ++v) FASTCONV_PREFETCH(ahead + v * L);
        }
        V x[Vectors];
#pragma GCC unroll 8
        for (int v = 0; v < Vectors; ++v) {
            if constexpr (Partial)
                x[v] = V::load_first(src + v * L, int(util::max_i64(0, util::min_i64(L, valid - v * L))));
            else
                x[v] = V::load(src + v * L);
        }
#pragma GCC unroll 8
        for (int r = 0; r < Rows; ++r) {
            const V b = V::broadcast(weight[r][k]);
#pragma GCC unroll 8
            for (int v = 0; v < Vectors; ++v) acc[r][v] = V::fma(b, x[v], acc[r][v]);
        }
    }
    if (direct) {
        const V one = V::broadcast(T(1));
#pragma GCC unroll 8
        for (int r = 0; r < Rows; ++r) {
            if (r >= direct->rows) break;
            const V bias = V::broadcast(direct->bias[r]);
#pragma GCC unroll 8
            for (int v = 0; v < Vectors; ++v) {
                const V sum = V::fma(acc[r][v], one, bias);  // acc + bias, rounded once
                const int64_t left = direct->count - v * L;
                if (left >= L)
                    sum.store(direct->out[r] + v * L);
                else if (left > 0)
                    sum.store_first(direct->out[r] + v * L, int(left));
            }
        }
        return;
    }
    store_accumulators(acc, tile, row_stride);
}

// One register block over a reduction chunk, with as few vectors as the positions left need
// (the last tile of a small output plane would otherwise be mostly waste). Prefetch: for the
// first block of a chunk, which brings the chunk's input into L1.
template <class V, int Rows, int Vectors, bool Prefetch>
inline void igemm_block(const typename V::T* input, const int64_t* offsets, int64_t k_begin, int64_t k_end,
                        const typename V::T* const* weight, typename V::T* tile, int64_t row_stride,
                        bool first, int64_t positions_left, int64_t valid,
                        const DirectStore<typename V::T>* direct) {
    constexpr int64_t L = V::lanes;
    if (positions_left >= Vectors * L) {
        if (valid >= Vectors * L)
            igemm_tile<V, Rows, Vectors, false, Prefetch>(input, offsets, k_begin, k_end, weight, tile, row_stride, first, valid, direct);
        else
            igemm_tile<V, Rows, Vectors, true, Prefetch>(input, offsets, k_begin, k_end, weight, tile, row_stride, first, valid, direct);
        return;
    }
    if constexpr (Vectors > 1) {
        if (positions_left <= (Vectors - 1) * L) {
            igemm_block<V, Rows, Vectors - 1, Prefetch>(input, offsets, k_begin, k_end, weight, tile, row_stride, first,
                                              positions_left, valid, direct);
            return;
        }
    }
    if (valid >= Vectors * L)
        igemm_tile<V, Rows, Vectors, false, Prefetch>(input, offsets, k_begin, k_end, weight, tile, row_stride, first, valid, direct);
    else
        igemm_tile<V, Rows, Vectors, true, Prefetch>(input, offsets, k_begin, k_end, weight, tile, row_stride, first, valid, direct);
}

// Writes a tile's valid positions (row by row, skipping the junk columns past out_width), adding
// the bias and applying ReLU on the way.
template <typename T>
inline void store_tile(const Conv2dIgemmArgs<T>& a, const T* tile, int64_t tile_width, int rows, int64_t n,
                       int64_t first_channel, int64_t p0) {
    const int64_t plane = a.out_height * a.out_width;
    const int64_t end = util::min_i64(p0 + tile_width, a.out_height * a.row_pitch);
    T bias[8];
    for (int r = 0; r < rows; ++r) bias[r] = a.bias ? a.bias[first_channel + r] : T(0);
    for (int64_t p = p0; p < end;) {
        const int64_t oh = p / a.row_pitch;
        const int64_t ow0 = p - oh * a.row_pitch;
        const int64_t row_end = util::min_i64(end, (oh + 1) * a.row_pitch);
        const int64_t count = util::min_i64(row_end - p, a.out_width - ow0);
        const T* src = tile + (p - p0);
        p = row_end;
        if (count <= 0) continue;
        if (!a.nhwc) {
            for (int r = 0; r < rows; ++r) {
                T* dst = a.output + ((n * a.out_channels + first_channel + r) * a.out_height + oh) * a.out_width + ow0;
                const T* s = src + r * tile_width;
                const T b = bias[r];
                if (a.relu)
                    for (int64_t i = 0; i < count; ++i) dst[i] = util::relu(s[i] + b);
                else
                    for (int64_t i = 0; i < count; ++i) dst[i] = s[i] + b;
            }
        } else {
            T* dst = a.output + (n * plane + oh * a.out_width + ow0) * a.out_channels + first_channel;
            for (int64_t i = 0; i < count; ++i, dst += a.out_channels)
                for (int r = 0; r < rows; ++r) {
                    const T v = src[r * tile_width + i] + bias[r];
                    dst[r] = a.relu ? util::relu(v) : v;
                }
        }
    }
}

constexpr int64_t kL1Budget = 24 * 1024;  // bytes of input rows a reduction chunk may touch
constexpr int64_t kSuperBlock = 8;        // register blocks per job
// 1x1 layers: every reduction chunk's input comes from memory once per super-block; larger
// super-blocks read it fewer times (256->64 @56: 4-6% faster, measured; 3x3 layers were not)
constexpr int64_t kPointwiseSuperBlock = 12;

template <typename T, int Rows>
void igemm_driver(const Conv2dIgemmArgs<T>& a) {
    using V = typename VecFor<T>::type;
    constexpr int Vectors = tile_vectors<Rows>();
    constexpr int64_t tile_width = int64_t(Vectors) * V::lanes;
    const int64_t positions = a.out_height * a.row_pitch;
    const int64_t plane = a.out_height * a.out_width;
    // Row tiles (NCHW output rows at least a tile wide, with junk columns in the pitch): every tile
    // lies inside one output row, so the last chunk stores it straight from the registers, and
    // no junk column is computed when the row is a whole number of vectors (the lecture's
    // 256-wide layer: 4 tiles a row). Otherwise tiles run across rows, junk columns and all.
    const int64_t row_in_vectors = (a.out_width + V::lanes - 1) / V::lanes * V::lanes;
    const bool row_tiles = !a.nhwc && a.row_pitch != a.out_width && a.out_width >= tile_width &&
                           row_in_vectors <= a.row_pitch;
    const int64_t tiles_per_row = (a.out_width + tile_width - 1) / tile_width;
    const int64_t tiles = row_tiles ? a.out_height * tiles_per_row : (positions + tile_width - 1) / tile_width;
    // super-blocks of at most super_block_size blocks, their sizes differing by one at most: threads
    // get equal shares of work
    const int64_t super_block_size = a.taps == 1 ? kPointwiseSuperBlock : kSuperBlock;
    const int64_t super_blocks = (a.blocks + super_block_size - 1) / super_block_size;
    // What a channel's steps read for one tile: the tile plus the taps' reach below and right,
    // in every stride phase the taps land in.
    const int64_t reach = tile_width + a.tap_rows * a.row_pitch + (a.taps > 1 ? a.row_pitch : 0);
    const int64_t phases_touched = util::min_i64(a.pack.stride_h * a.pack.stride_w, a.taps);
    const int64_t channel_bytes = reach * phases_touched * int64_t(sizeof(T));
    const int64_t chunk = util::max_i64(1, kL1Budget / channel_bytes) * a.taps;
    // 1x1 steps each open new cache lines (no tap reuse): the first block of a chunk prefetches.
    const bool prefetch = a.taps == 1;
    // Consecutive jobs of a thread share their outer index: the input tile when the weights are
    // the smaller operand (large planes), else the weights of a super-block (small planes with
    // many channels, whose weights would otherwise be streamed once per tile).
    const int64_t jobs = a.batch * a.groups * tiles * super_blocks;
    const int threads = a.num_threads;
    bool tiles_inner = a.reduction * a.out_per_group > a.reduction / a.taps * positions;
    if (tiles_inner && threads > 1) {
        // Unless that order gives some thread a much larger share: its first run of jobs (the
        // guided schedule's first runs are an even split, as a static one) is then whole
        // super-blocks, which differ by a block (AlexNet conv1 at 2 threads: 6 blocks against 5).
        int64_t total = 0, largest = 0;
        for (int t = 0; t < threads; ++t) {
            int64_t share = 0;
            for (int64_t job = jobs * t / threads; job < jobs * (t + 1) / threads; ++job) {
                const int64_t sb = (job / tiles) % super_blocks;
                share += (sb + 1) * a.blocks / super_blocks - sb * a.blocks / super_blocks;
            }
            total += share;
            largest = util::max_i64(largest, share);
        }
        tiles_inner = double(largest) * threads <= 1.06 * double(total);
    }
    // Output rows without junk columns (row_pitch == out_width, NCHW) or row tiles: the last
    // reduction chunk writes its tiles straight from the registers, with the bias, not through
    // the tile buffer.
    const bool direct_store = !a.nhwc && (a.row_pitch == a.out_width || row_tiles);

    // One (image, group, tile, super-block): every register block over every reduction chunk.
    auto run = [&](const T* group_input, int64_t n, int64_t g, int64_t t, int64_t super_block) {
        alignas(64) T tile[kPointwiseSuperBlock * Rows * tile_width];
        // p0: the tile's first position (pitched); count: the positions it computes and stores;
        // out_offset: where its first output goes in the plane (direct store)
        int64_t p0 = t * tile_width, count = util::min_i64(tile_width, positions - p0), out_offset = p0;
        if (row_tiles) {
            const int64_t oh = t / tiles_per_row, ow0 = (t - oh * tiles_per_row) * tile_width;
            p0 = oh * a.row_pitch + ow0;
            count = util::min_i64(tile_width, a.out_width - ow0);
            out_offset = oh * a.out_width + ow0;
        }
        const int64_t first_block = super_block * a.blocks / super_blocks;
        const int64_t block_count = (super_block + 1) * a.blocks / super_blocks - first_block;
        if (p0 >= a.load_limit) return;  // only junk columns past the input's end
        const int64_t valid = a.load_limit - p0;
        const T* input = group_input + p0;
        for (int64_t k0 = 0; k0 < a.reduction; k0 += chunk) {
            const int64_t k1 = util::min_i64(a.reduction, k0 + chunk);
            for (int64_t b = 0; b < block_count; ++b) {
                // rows past the group's last channel repeat it; they are never stored
                const int64_t first_local = (first_block + b) * Rows;
                const T* weight[Rows];
                DirectStore<T> direct;
                const bool straight = direct_store && k1 == a.reduction;  // the last chunk
                direct.rows = int(util::min_i64(Rows, a.out_per_group - first_local));
                direct.count = count;
                for (int r = 0; r < Rows; ++r) {
                    const int64_t channel = g * a.out_per_group + util::min_i64(first_local + r, a.out_per_group - 1);
                    weight[r] = a.weight + channel * a.reduction;
                    direct.out[r] = a.output + (n * a.out_channels + channel) * plane + out_offset;
                    direct.bias[r] = a.bias ? a.bias[channel] : T(0);
                }
                T* block_tile = tile + b * Rows * tile_width;
                if (b == 0 && prefetch)
                    igemm_block<V, Rows, Vectors, true>(input, a.offsets, k0, k1, weight, block_tile, tile_width,
                                                        k0 == 0, count, valid, straight ? &direct : nullptr);
                else
                    igemm_block<V, Rows, Vectors, false>(input, a.offsets, k0, k1, weight, block_tile, tile_width,
                                                         k0 == 0, count, valid, straight ? &direct : nullptr);
                if (straight && a.relu)
                    for (int r = 0; r < direct.rows; ++r)
                        for (int64_t i = 0; i < direct.count; ++i) direct.out[r][i] = util::relu(direct.out[r][i]);
            }
        }
        if (direct_store) return;
        for (int64_t b = 0; b < block_count; ++b) {
            const int64_t block = first_block + b;
            const int rows = int(util::min_i64(Rows, a.out_per_group - block * Rows));
            store_tile(a, tile + b * Rows * tile_width, tile_width, rows, n, g * a.out_per_group + block * Rows, p0);
        }
    };

    if (a.pack_per_group) {
        const int64_t group_jobs = a.batch * a.groups;
        const int64_t in_per_group = a.group_stride / (a.pack.stride_h * a.pack.stride_w * a.pack.plane);
        const int64_t channel_stride = a.pack.stride_h * a.pack.stride_w * a.pack.plane;
        FASTCONV_PARALLEL_FOR_GROUP_JOBS
        for (int64_t job = 0; job < group_jobs; ++job) {
            const int64_t n = job / a.groups, g = job % a.groups;
            // one slice per thread of this region; a one-thread call was handed its own slice
            T* packed = a.group_scratch + (a.num_threads > 1 ? util::thread_index() : 0) * a.group_stride;
            for (int64_t c = 0; c < in_per_group; ++c)
                packing::pack_channel(a.pack, a.input, g * in_per_group + c, packed + c * channel_stride);
            for (int64_t super_block = 0; super_block < super_blocks; ++super_block)
                for (int64_t t = 0; t < tiles; ++t) run(packed, n, g, t, super_block);
        }
        return;
    }

    FASTCONV_PARALLEL_FOR_JOBS
    for (int64_t job = 0; job < jobs; ++job) {
        const int64_t super_block = tiles_inner ? (job / tiles) % super_blocks : job % super_blocks;
        const int64_t t = tiles_inner ? job % tiles : (job / super_blocks) % tiles;
        const int64_t rest = job / (tiles * super_blocks);
        const int64_t g = rest % a.groups;
        const int64_t n = rest / a.groups;
        run(a.packed_input + n * a.image_stride + g * a.group_stride, n, g, t, super_block);
    }
}

template <typename T>
void igemm(const Conv2dIgemmArgs<T>& a) {
    switch (a.block_rows) {
        case 8:  // chosen where 32 vector registers hold 8 rows x 3 vectors (choose_block_rows)
            if constexpr (kVectorRegisters >= 32) {
                igemm_driver<T, 8>(a);
            } else {  // the level was lowered between planning and this call: the same channels
                Conv2dIgemmArgs<T> narrower = a;  // as twice the 4-row blocks
                narrower.block_rows = 4;
                narrower.blocks = a.blocks * 2;
                igemm_driver<T, 4>(narrower);
            }
            break;
        case 6: igemm_driver<T, 6>(a); break;
        case 4: igemm_driver<T, 4>(a); break;
        case 2: igemm_driver<T, 2>(a); break;
        default: igemm_driver<T, 1>(a); break;
    }
}

}  // namespace

void conv2d_f32_igemm(const Conv2dIgemmArgs<float>& a) { igemm(a); }
void conv2d_f64_igemm(const Conv2dIgemmArgs<double>& a) { igemm(a); }

}  // namespace FASTCONV_ISA
}  // namespace fastconv
