// Plain argument structs passed from the bindings to the kernels. Everything here is already
// validated by the Python layer (src/fastconv/_validate.py); kernels only assert.
#pragma once
#include <cstdint>

namespace fastconv {

template <typename T>
struct Conv2dArgs {
    const T* input = nullptr;          // NCHW or NHWC, C-contiguous
    const T* weight = nullptr;         // (C_out, C_in/groups, KH, KW)
    const T* weight_hwio = nullptr;    // NHWC only: weight packed as (KH, KW, C_in/groups, C_out)
    const T* bias = nullptr;           // (C_out,) or null
    T* output = nullptr;               // NCHW or NHWC, C-contiguous
    int64_t batch = 0, in_channels = 0, in_height = 0, in_width = 0;
    int64_t out_channels = 0, out_height = 0, out_width = 0;
    int64_t kernel_height = 0, kernel_width = 0;
    int64_t stride_h = 1, stride_w = 1;
    int64_t pad_top = 0, pad_left = 0;  // bottom/right padding is implied by the output size
    int64_t dilation_h = 1, dilation_w = 1;
    int64_t groups = 1;
    bool relu = false;
    bool nhwc = false;
    int num_threads = 1;
};

// How conv2d.cpp lays out a packed input channel: its sh x sw stride phases, each phase_rows x
// pitch, zero padded, plane elements apart (plane includes zero slack for the last tiles).
struct PackGeometry {
    int64_t in_channels = 0, in_height = 0, in_width = 0;
    int64_t stride_h = 1, stride_w = 1, pad_top = 0, pad_left = 0;
    int64_t phase_rows = 0, pitch = 0, plane = 0;
    bool nhwc = false;
};

// The igemm kernels read offsets[k + kPrefetchSteps] to prefetch: offsets arrays carry that many
// spare entries past the reduction's end.
constexpr int64_t kPrefetchSteps = 32;

// Implicit GEMM over a packed input (see conv2d.cpp): for output position p of a row-pitched
// output plane and reduction step k = (ic, kh, kw), the input value is
// packed_input[image][group][...] at offsets[k] + p, so every step reads contiguous vectors.
template <typename T>
struct Conv2dIgemmArgs {
    const T* packed_input = nullptr;   // per image: C_in channel blocks of channel_stride elements
    int64_t image_stride = 0;          // elements per image in packed_input
    int64_t group_stride = 0;          // elements per group of input channels
    const int64_t* offsets = nullptr;  // [reduction] offsets within a group's channels
    int64_t reduction = 0;             // C_in / groups * KH * KW
    const T* weight = nullptr;         // (C_out, reduction): the caller's weight, read in place
    int block_rows = 1;                // output channels per block: 1, 2, 4, 6 or 8
    int64_t blocks = 0;                // blocks per group
    const T* bias = nullptr;
    T* output = nullptr;               // NCHW or NHWC, C-contiguous
    int64_t batch = 0, groups = 1, out_per_group = 0, out_channels = 0;
    int64_t out_height = 0, out_width = 0;
    int64_t row_pitch = 0;             // positions per output row in the packed plane (>= out_width)
    int64_t tap_rows = 0;              // packed rows a reduction step may reach below its position's row
    int64_t taps = 1;                  // KH * KW: steps per input channel
    int64_t load_limit = 0;            // positions at or past this are never loaded (unpacked input)
    // Grouped convolutions with small groups pack each group inside its job instead, into the
    // thread's slice of group_scratch, so the packed copy never leaves the cache:
    bool pack_per_group = false;
    const T* input = nullptr;          // the caller's image (NCHW or NHWC)
    PackGeometry pack;
    T* group_scratch = nullptr;        // num_threads slices of group_stride elements
    bool relu = false;
    bool nhwc = false;
    int num_threads = 1;
};

// Depthwise convolution (groups == C_in == C_out), NCHW: each job packs its channel (zero
// padding, stride phases, see PackGeometry) into the thread's slice of scratch, then computes
// whole output rows from it.
template <typename T>
struct Conv2dDepthwiseArgs {
    const T* input = nullptr;     // NCHW
    const T* weight = nullptr;    // (C, 1, KH, KW)
    const T* bias = nullptr;
    T* output = nullptr;          // NCHW
    PackGeometry pack;
    T* scratch = nullptr;         // num_threads slices of channel_stride elements, zeroed: jobs write input cells only
    int64_t channel_stride = 0;   // stride_h * stride_w * pack.plane
    const int64_t* tap_offsets = nullptr;  // [KH * KW]: where tap (kh, kw) of output (0, 0) reads
    int64_t batch = 0, channels = 0, out_height = 0, out_width = 0;
    int64_t kernel_height = 0, kernel_width = 0, dilation_h = 1, dilation_w = 1;
    bool relu = false;
    int num_threads = 1;
    // Small NCHW planes and every NHWC layer: the channels in the lanes instead, in scratch
    // slices of lane_slice elements. NCHW: a job is (image, vector of channels), its padded
    // cells cols_read to a row; NHWC: (image, group_channels channels, band of band_rows
    // output rows), read from the input in place.
    bool channels_in_lanes = false;
    bool nhwc = false;
    int64_t band_rows = 0, cols_read = 0, group_channels = 0, lane_slice = 0;
};

template <typename T>
struct Pool2dArgs {
    const T* input = nullptr;
    T* output = nullptr;
    int64_t* indices = nullptr;        // max pooling only, may be null: flat index into H*W
    int64_t batch = 0, channels = 0, in_height = 0, in_width = 0;
    int64_t out_height = 0, out_width = 0;
    int64_t kernel_height = 1, kernel_width = 1;
    int64_t stride_h = 1, stride_w = 1;
    int64_t pad_h = 0, pad_w = 0;
    int64_t dilation_h = 1, dilation_w = 1;  // max pooling only
    bool count_include_pad = true;           // average pooling only
    int64_t divisor_override = 0;            // average pooling only; 0 = none
    bool nhwc = false;
    int num_threads = 1;
};

// filter2d's element types: the image's, and the result's.
enum class ElementType : int { uint8 = 0, uint16 = 1, int16 = 2, float32 = 3, float64 = 4 };
// What lies beyond the image's edge (scipy.ndimage's names).
enum class Border : int { constant = 0, reflect = 1, nearest = 2, mirror = 3, wrap = 4 };

// filter2d: a correlation of each plane of the image with one 2-D kernel, computed in T (float
// for float32 and integer images, double for float64), borders read through Border. Channels
// interleaved in a row (an (H, W, C) image) are filtered in place: tap (r, c) of output element
// (y, x, ch) reads input (y + r - pad_top, x + c - pad_left, ch).
template <typename T>
struct Filter2dArgs {
    const void* input = nullptr;
    ElementType input_type = ElementType::float32;
    int64_t planes = 1, height = 0, width = 0, channels = 1;
    // Strides of the input in elements (any sign; NumPy views need not be contiguous).
    int64_t plane_stride = 0, row_stride = 0, column_stride = 0, channel_stride = 0;
    void* output = nullptr;             // C-contiguous (planes, out_height, out_width, channels)
    ElementType output_type = ElementType::float32;
    int64_t out_height = 0, out_width = 0;
    int64_t kernel_height = 1, kernel_width = 1;
    int64_t pad_top = 0, pad_left = 0;  // bottom/right padding is implied by the output size
    Border border = Border::constant;
    T cval = 0;
    const T* kernel = nullptr;          // (KH, KW), correlation order
    // Separable kernels (kernel == outer(column_taps, row_taps)): two 1-D passes instead.
    const T* row_taps = nullptr;        // [KW], or null for the direct path
    const T* column_taps = nullptr;     // [KH]
    // Integer results: a sum within round_margin of a rounding boundary (x.5) is summed again in
    // double from kernel_f64, so that the rounding is that of the exact sum, not of T's error.
    const double* kernel_f64 = nullptr;
    double round_margin = 0;
    int num_threads = 1;
};

// ---- SciPy's own arithmetic (fastconv.scipy): scipy_correlate and scipy_uniform ----

// SciPy's extension modes by SciPy's own codes (scipy.ndimage._ni_support._extend_mode_to_code);
// grid-wrap and grid-constant arrive as wrap and constant, grid-mirror as reflect.
enum class ScipyMode : int { nearest = 0, wrap = 1, reflect = 2, mirror = 3, constant = 4 };

// How the taps of one output element are combined; every product is rounded before it is added,
// and additions run in the order given, as SciPy's C loops do.
enum class ScipyCombine : int {
    // acc = 0, then per group: acc += (p0 + p1 + ...), the group summed left to right (a group of
    // one is acc += p). ndimage.correlate (NI_Correlate), signal's _correlateND (groups of one)
    // and signal.convolve2d (groups of four per kernel row).
    sum = 0,
    // acc = p0, then acc += p for the others: correlate1d's general kernel (NI_Correlate1D).
    sum_from_first = 1,
    // acc = w0 * x0 (tap 0, the centre), then per pair of taps (a, b) after it:
    // acc += (x_a + x_b) * w_a (symmetric) or (x_a - x_b) * w_a (antisymmetric): NI_Correlate1D.
    fold_symmetric = 2,
    fold_antisymmetric = 3,
};

// A correlation computed as SciPy computes it, output element by output element, vectorised
// across the output elements of a line. Arrays are C-contiguous with `ndim` axes (after the
// caller merged trailing axes the taps never move along into `cell` elements per position of the
// last axis). Output element o reads input position o + shift + tap offset on every axis; a
// position outside the input is mapped by `mode` (SciPy's rules) or reads `cval`. Taps are
// grouped by their offsets on the leading axes into line slots; tap t reads slot tap_slot[t] at
// column offset tap_column[t]. Acc is the type SciPy accumulates in (double for ndimage; the
// arrays' common type for signal).
template <typename Acc>
struct ScipyCorrelateArgs {
    const void* input = nullptr;
    ElementType input_type = ElementType::float64;
    void* output = nullptr;
    ElementType output_type = ElementType::float64;
    int ndim = 1;
    const int64_t* in_shape = nullptr;   // [ndim]
    const int64_t* out_shape = nullptr;  // [ndim]
    const int64_t* shift = nullptr;      // [ndim]
    int64_t cell = 1;
    ScipyMode mode = ScipyMode::constant;
    Acc cval = 0;
    int64_t taps = 0;
    const int64_t* tap_slot = nullptr;     // [taps]
    const int64_t* tap_column = nullptr;   // [taps]
    const Acc* weights = nullptr;          // [taps]
    ScipyCombine combine = ScipyCombine::sum;
    const int64_t* group_sizes = nullptr;  // [groups], summing to taps (sum only)
    int64_t groups = 0;
    int64_t slots = 1;
    const int64_t* slot_offsets = nullptr;  // [slots][ndim - 1]
    int64_t column_low = 0, column_high = 0;  // smallest and largest tap_column
    // Each output line is cut into `chunks` column ranges of chunk_positions (the last shorter),
    // so that a few long lines still feed every thread.
    int64_t chunks = 1, chunk_positions = 0;
    // Per thread: slots + 2 lines of line_elements (the cached input lines, the constant line,
    // the output line before its conversion), 3 * slots integers (cache tags, the job that last
    // used each cached line, the line each slot wants; tags start at -1) and slots + taps pointers.
    Acc* scratch = nullptr;
    int64_t line_elements = 0;
    int64_t* tags = nullptr;
    const Acc** pointers = nullptr;
    int num_threads = 1;
};

// scipy.ndimage.uniform_filter1d (NI_UniformFilter1D): a running sum along each line, the sum
// of the first `size` extended elements, then one add of (entering - leaving) per step, each
// sum divided by size. The array is (outer, length, inner), C-contiguous, filtered along length.
struct ScipyUniformArgs {
    const void* input = nullptr;
    ElementType input_type = ElementType::float64;
    void* output = nullptr;
    ElementType output_type = ElementType::float64;
    int64_t outer = 1, length = 1, inner = 1;
    int64_t size = 1;
    int64_t before = 0;  // extended elements before the first: size / 2 + origin
    ScipyMode mode = ScipyMode::constant;
    double cval = 0;
    int64_t inner_chunk = 1;  // inner > 1: a job is one outer index and this many inner elements
    double* scratch = nullptr;  // per thread: scratch_elements doubles
    int64_t scratch_elements = 0;
    int num_threads = 1;
};

}  // namespace fastconv
