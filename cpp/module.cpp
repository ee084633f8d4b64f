// The only pybind11 module: unpack already-validated arrays into argument structs, release the
// GIL, call the kernel. The Python layer (src/fastconv/_validate.py) owns validation; the checks
// here are a cheap last guard so that a direct call into _core can never read or write out of
// bounds (they raise ValueError, via std::invalid_argument).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "conv2d.hpp"
#include "dispatch.hpp"
#include "tuning.hpp"

#if defined(FASTCONV_OPENMP)
#include <omp.h>
#endif

namespace py = pybind11;
using fastconv::Conv2dArgs;
using fastconv::Pool2dArgs;

namespace {

template <typename T>
using Array = py::array_t<T, py::array::c_style>;
using Pair = std::array<int64_t, 2>;
using Quad = std::array<int64_t, 4>;

void require(bool condition, const char* message) {
    if (!condition) throw std::invalid_argument(message);
}

int64_t output_extent(int64_t size, int64_t pad_total, int64_t kernel, int64_t stride, int64_t dilation) {
    const int64_t span = size + pad_total - dilation * (kernel - 1) - 1;
    return span < 0 ? 0 : span / stride + 1;
}

template <typename T>
void conv2d(const Array<T>& input, const Array<T>& weight, const std::optional<Array<T>>& bias,
            Array<T>& output, Pair stride, Quad padding, Pair dilation, int64_t groups, bool relu,
            bool nhwc, int num_threads, const std::string& algorithm) {
    fastconv::Conv2dAlgorithm chosen = fastconv::Conv2dAlgorithm::automatic;
    if (algorithm == "direct")
        chosen = fastconv::Conv2dAlgorithm::direct;
    else if (algorithm == "igemm")
        chosen = fastconv::Conv2dAlgorithm::igemm;
    else if (algorithm == "igemm_channels")
        chosen = fastconv::Conv2dAlgorithm::igemm_channels;
    else if (algorithm == "winograd")
        chosen = fastconv::Conv2dAlgorithm::winograd;  // applicability checked below
    else if (algorithm == "depthwise")
        chosen = fastconv::Conv2dAlgorithm::depthwise;
    else
        require(algorithm == "auto", "conv2d: unknown algorithm");
    require(input.ndim() == 4 && weight.ndim() == 4 && output.ndim() == 4, "conv2d: arrays must be 4-D");
    require(stride[0] > 0 && stride[1] > 0 && dilation[0] > 0 && dilation[1] > 0 && groups > 0,
            "conv2d: stride, dilation and groups must be positive");
    require(padding[0] >= 0 && padding[1] >= 0 && padding[2] >= 0 && padding[3] >= 0,
            "conv2d: padding must be non-negative");
    Conv2dArgs<T> a;
    a.batch = input.shape(0);
    a.in_channels = input.shape(nhwc ? 3 : 1);
    a.in_height = input.shape(nhwc ? 1 : 2);
    a.in_width = input.shape(nhwc ? 2 : 3);
    a.out_channels = weight.shape(0);
    a.kernel_height = weight.shape(2);
    a.kernel_width = weight.shape(3);
    a.out_height = output_extent(a.in_height, padding[0] + padding[1], a.kernel_height, stride[0], dilation[0]);
    a.out_width = output_extent(a.in_width, padding[2] + padding[3], a.kernel_width, stride[1], dilation[1]);
    require(a.in_channels % groups == 0 && a.out_channels % groups == 0 &&
                weight.shape(1) * groups == a.in_channels,
            "conv2d: channels do not match weight and groups");
    const std::array<int64_t, 4> expected =
        nhwc ? std::array<int64_t, 4>{a.batch, a.out_height, a.out_width, a.out_channels}
             : std::array<int64_t, 4>{a.batch, a.out_channels, a.out_height, a.out_width};
    for (int d = 0; d < 4; ++d) require(output.shape(d) == expected[d], "conv2d: output has the wrong shape");
    require(a.out_height > 0 && a.out_width > 0, "conv2d: empty output");
    if (bias) require(bias->ndim() == 1 && bias->shape(0) == a.out_channels, "conv2d: bias shape");
    if (chosen == fastconv::Conv2dAlgorithm::winograd)
        require(a.kernel_height == 3 && a.kernel_width == 3 && stride[0] == 1 && stride[1] == 1 && dilation[0] == 1 &&
                    dilation[1] == 1 && groups == 1,
                "conv2d: winograd needs a 3x3 kernel, stride 1, dilation 1 and groups 1");
    if (chosen == fastconv::Conv2dAlgorithm::depthwise)
        require(groups == a.in_channels && a.out_channels == a.in_channels,
                "conv2d: depthwise needs groups == in_channels == out_channels");
    a.input = input.data();
    a.weight = weight.data();
    a.bias = bias ? bias->data() : nullptr;
    a.output = output.mutable_data();
    a.stride_h = stride[0];
    a.stride_w = stride[1];
    a.pad_top = padding[0];
    a.pad_left = padding[2];
    a.dilation_h = dilation[0];
    a.dilation_w = dilation[1];
    a.groups = groups;
    a.relu = relu;
    a.nhwc = nhwc;
    a.num_threads = fastconv::threads_for_work(
        num_threads, double(a.batch) * a.out_height * a.out_width * a.out_channels * weight.shape(1) *
                         a.kernel_height * a.kernel_width,
        fastconv::kConvWorkPerThread);
    if (a.batch == 0) return;
    py::gil_scoped_release release;  // long kernel; other Python threads may run meanwhile
    fastconv::conv2d(a, chosen);
}

template <typename T>
Pool2dArgs<T> pool_args(const Array<T>& input, Array<T>& output, Pair kernel, Pair stride, Pair padding,
                        Pair dilation, bool nhwc, int num_threads) {
    require(input.ndim() == 4 && output.ndim() == 4, "pool2d: arrays must be 4-D");
    require(kernel[0] > 0 && kernel[1] > 0 && stride[0] > 0 && stride[1] > 0 && dilation[0] > 0 &&
                dilation[1] > 0 && padding[0] >= 0 && padding[1] >= 0,
            "pool2d: kernel, stride and dilation must be positive, padding non-negative");
    Pool2dArgs<T> a;
    a.batch = input.shape(0);
    a.channels = input.shape(nhwc ? 3 : 1);
    a.in_height = input.shape(nhwc ? 1 : 2);
    a.in_width = input.shape(nhwc ? 2 : 3);
    a.out_height = output.shape(nhwc ? 1 : 2);
    a.out_width = output.shape(nhwc ? 2 : 3);
    require(output.shape(0) == a.batch && output.shape(nhwc ? 3 : 1) == a.channels,
            "pool2d: output batch/channels differ from the input's");
    // Every window must start inside the input or its left padding (reads stay in bounds).
    require(a.out_height >= 1 && a.out_width >= 1 && (a.out_height - 1) * stride[0] < a.in_height + padding[0] &&
                (a.out_width - 1) * stride[1] < a.in_width + padding[1],
            "pool2d: output size does not fit the input");
    a.input = input.data();
    a.output = output.mutable_data();
    a.kernel_height = kernel[0];
    a.kernel_width = kernel[1];
    a.stride_h = stride[0];
    a.stride_w = stride[1];
    a.pad_h = padding[0];
    a.pad_w = padding[1];
    a.dilation_h = dilation[0];
    a.dilation_w = dilation[1];
    a.nhwc = nhwc;
    a.num_threads = fastconv::threads_for_work(
        num_threads, double(a.batch) * a.channels * a.out_height * a.out_width * a.kernel_height * a.kernel_width,
        fastconv::kPoolWorkPerThread);
    return a;
}

template <typename T>
void max_pool2d(const Array<T>& input, Array<T>& output, std::optional<Array<int64_t>> indices, Pair kernel,
                Pair stride, Pair padding, Pair dilation, bool nhwc, int num_threads) {
    Pool2dArgs<T> a = pool_args(input, output, kernel, stride, padding, dilation, nhwc, num_threads);
    if (indices) {
        require(indices->ndim() == 4, "max_pool2d: indices must be 4-D");
        for (int d = 0; d < 4; ++d)
            require(indices->shape(d) == output.shape(d), "max_pool2d: indices shape differs from output");
        a.indices = indices->mutable_data();
    }
    if (a.batch == 0 || a.channels == 0) return;
    py::gil_scoped_release release;
    if constexpr (std::is_same_v<T, float>)
        fastconv::kernels().max_pool2d_f32(a);
    else
        fastconv::kernels().max_pool2d_f64(a);
}

template <typename T>
void avg_pool2d(const Array<T>& input, Array<T>& output, Pair kernel, Pair stride, Pair padding,
                bool count_include_pad, int64_t divisor_override, bool nhwc, int num_threads) {
    Pool2dArgs<T> a = pool_args(input, output, kernel, stride, padding, Pair{1, 1}, nhwc, num_threads);
    a.count_include_pad = count_include_pad;
    a.divisor_override = divisor_override;
    if (a.batch == 0 || a.channels == 0) return;
    py::gil_scoped_release release;
    if constexpr (std::is_same_v<T, float>)
        fastconv::kernels().avg_pool2d_f32(a);
    else
        fastconv::kernels().avg_pool2d_f64(a);
}

fastconv::ElementType element_type(const py::dtype& dtype, const char* what) {
    const char kind = dtype.kind();
    const auto size = dtype.itemsize();
    if (kind == 'u' && size == 1) return fastconv::ElementType::uint8;
    if (kind == 'u' && size == 2) return fastconv::ElementType::uint16;
    if (kind == 'i' && size == 2) return fastconv::ElementType::int16;
    if (kind == 'f' && size == 4) return fastconv::ElementType::float32;
    if (kind == 'f' && size == 8) return fastconv::ElementType::float64;
    throw std::invalid_argument(std::string("filter2d: unsupported dtype for ") + what);
}

template <typename T>
void filter2d_as(const py::array& input, py::array& output, const Array<double>& kernel,
                 const std::optional<Array<double>>& row_taps, const std::optional<Array<double>>& column_taps,
                 Pair pad_top_left, int border, double cval, double round_margin, int num_threads) {
    fastconv::Filter2dArgs<T> a;
    a.input_type = element_type(input.dtype(), "input");
    a.output_type = element_type(output.dtype(), "output");
    const auto itemsize = input.itemsize();
    int64_t strides[4];
    for (int d = 0; d < 4; ++d) {
        require(input.strides(d) % itemsize == 0, "filter2d: input strides must be whole elements");
        strides[d] = input.strides(d) / itemsize;
    }
    a.planes = input.shape(0);
    a.height = input.shape(1);
    a.width = input.shape(2);
    a.channels = input.shape(3);
    a.plane_stride = strides[0];
    a.row_stride = strides[1];
    a.column_stride = strides[2];
    a.channel_stride = strides[3];
    a.out_height = output.shape(1);
    a.out_width = output.shape(2);
    require(output.shape(0) == a.planes && output.shape(3) == a.channels,
            "filter2d: output planes/channels differ from the input's");
    a.kernel_height = kernel.shape(0);
    a.kernel_width = kernel.shape(1);
    require(a.height > 0 && a.width > 0 && a.channels > 0 && a.out_height > 0 && a.out_width > 0,
            "filter2d: empty image or output");
    require(a.kernel_height > 0 && a.kernel_width > 0, "filter2d: empty kernel");
    require(pad_top_left[0] >= 0 && pad_top_left[1] >= 0, "filter2d: padding must be non-negative");
    require(border >= 0 && border <= 4, "filter2d: unknown border");
    require(row_taps.has_value() == column_taps.has_value(), "filter2d: separable taps come in pairs");
    std::vector<T> taps(kernel.data(), kernel.data() + kernel.size());
    std::vector<T> rows, columns;
    if (row_taps) {
        require(row_taps->ndim() == 1 && row_taps->shape(0) == a.kernel_width && column_taps->ndim() == 1 &&
                    column_taps->shape(0) == a.kernel_height,
                "filter2d: separable taps do not match the kernel");
        rows.assign(row_taps->data(), row_taps->data() + a.kernel_width);
        columns.assign(column_taps->data(), column_taps->data() + a.kernel_height);
        a.row_taps = rows.data();
        a.column_taps = columns.data();
    }
    a.input = input.data();
    a.output = output.mutable_data();
    a.kernel = taps.data();
    a.kernel_f64 = kernel.data();
    a.round_margin = round_margin;
    a.pad_top = pad_top_left[0];
    a.pad_left = pad_top_left[1];
    a.border = static_cast<fastconv::Border>(border);
    a.cval = static_cast<T>(cval);
    const double taps_per_output = row_taps ? double(a.kernel_height + a.kernel_width)
                                            : double(a.kernel_height) * a.kernel_width;
    a.num_threads = fastconv::threads_for_work(
        num_threads, double(a.planes) * a.out_height * a.out_width * a.channels * taps_per_output,
        fastconv::kFilterWorkPerThread);
    py::gil_scoped_release release;
    if constexpr (std::is_same_v<T, float>)
        fastconv::kernels().filter2d_f32(a);
    else
        fastconv::kernels().filter2d_f64(a);
}

// Correlate each (H, W, C) plane of `input` (4-D: planes, H, W, interleaved channels; any
// strides) with `kernel` into the C-contiguous `output`, summing in float or double.
void filter2d(const py::array& input, py::array& output, const Array<double>& kernel,
              const std::optional<Array<double>>& row_taps, const std::optional<Array<double>>& column_taps,
              Pair pad_top_left, int border, double cval, bool double_precision, double round_margin,
              int num_threads) {
    require(input.ndim() == 4 && output.ndim() == 4 && kernel.ndim() == 2, "filter2d: input/output 4-D, kernel 2-D");
    require(output.writeable() && (output.flags() & py::array::c_style), "filter2d: output must be C-contiguous and writeable");
    if (double_precision)
        filter2d_as<double>(input, output, kernel, row_taps, column_taps, pad_top_left, border, cval, round_margin,
                            num_threads);
    else
        filter2d_as<float>(input, output, kernel, row_taps, column_taps, pad_top_left, border, cval, round_margin,
                           num_threads);
}

// ---- fastconv.scipy: SciPy's own arithmetic (see ScipyCorrelateArgs / ScipyUniformArgs) ----

fastconv::ElementType scipy_float_type(const py::array& array, const char* what) {
    const char kind = array.dtype().kind();
    const auto size = array.dtype().itemsize();
    if (kind == 'f' && size == 4) return fastconv::ElementType::float32;
    if (kind == 'f' && size == 8) return fastconv::ElementType::float64;
    throw std::invalid_argument(std::string("scipy kernels: ") + what + " must be float32 or float64");
}

void require_scipy_mode(int mode) {
    require(mode >= 0 && mode <= 4, "scipy kernels: unknown mode");
}

// input and output have ndim + 1 axes, the last one the cell (the trailing axes no tap moves
// along); tap_offsets is (taps, ndim), in SciPy's evaluation order.
template <typename Acc>
void scipy_correlate_as(const py::array& input, py::array& output, const std::vector<int64_t>& shift,
                        const Array<int64_t>& tap_offsets, const Array<double>& weights,
                        const std::vector<int64_t>& group_sizes, int combine, int mode, double cval,
                        bool in_place, int num_threads) {
    const int nd = static_cast<int>(input.ndim()) - 1;
    require(nd >= 1 && nd <= 64 && output.ndim() == input.ndim(), "scipy_correlate: input and output need 2 to 65 axes");
    require(input.flags() & py::array::c_style, "scipy_correlate: input must be C-contiguous");
    require(output.writeable() && (output.flags() & py::array::c_style),
            "scipy_correlate: output must be C-contiguous and writeable");
    require(static_cast<int>(shift.size()) == nd, "scipy_correlate: one shift per axis");
    require(tap_offsets.ndim() == 2 && tap_offsets.shape(1) == nd && tap_offsets.shape(0) >= 1,
            "scipy_correlate: tap_offsets must be (taps >= 1, ndim)");
    require(weights.ndim() == 1 && weights.shape(0) == tap_offsets.shape(0), "scipy_correlate: one weight per tap");
    require(combine >= 0 && combine <= 3, "scipy_correlate: unknown combine");
    require_scipy_mode(mode);
    require(input.shape(nd) == output.shape(nd) && input.shape(nd) >= 1, "scipy_correlate: cells differ");
    std::vector<int64_t> in_shape(nd), out_shape(nd);
    for (int k = 0; k < nd; ++k) {
        in_shape[k] = input.shape(k);
        out_shape[k] = output.shape(k);
        require(in_shape[k] >= 1 && out_shape[k] >= 1, "scipy_correlate: empty array");
    }
    const int64_t taps = tap_offsets.shape(0);
    const auto combine_kind = static_cast<fastconv::ScipyCombine>(combine);
    if (combine_kind == fastconv::ScipyCombine::sum) {
        int64_t total = 0;
        for (int64_t size : group_sizes) {
            require(size >= 1, "scipy_correlate: empty group");
            total += size;
        }
        require(total == taps, "scipy_correlate: group sizes must add up to the taps");
    } else if (combine_kind != fastconv::ScipyCombine::sum_from_first) {
        require(taps % 2 == 1, "scipy_correlate: a folded kernel has a centre tap and pairs");
    }
    // Line slots: the distinct offsets on the leading axes, in order of first use.
    std::vector<int64_t> slot_offsets, tap_slot(taps), tap_column(taps);
    int64_t slots = 0;
    const auto offsets = tap_offsets.unchecked<2>();
    for (int64_t t = 0; t < taps; ++t) {
        int64_t found = -1;
        for (int64_t r = 0; r < slots && found < 0; ++r) {
            bool same = true;
            for (int k = 0; k + 1 < nd; ++k) same = same && slot_offsets[r * (nd - 1) + k] == offsets(t, k);
            if (same) found = r;
        }
        if (found < 0) {
            for (int k = 0; k + 1 < nd; ++k) slot_offsets.push_back(offsets(t, k));
            found = slots++;
        }
        tap_slot[t] = found;
        tap_column[t] = offsets(t, nd - 1);
    }
    slot_offsets.push_back(0);  // never empty (1-D arrays have no leading axes)
    fastconv::ScipyCorrelateArgs<Acc> a;
    a.input_type = scipy_float_type(input, "input");
    a.output_type = scipy_float_type(output, "output");
    a.ndim = nd;
    a.in_shape = in_shape.data();
    a.out_shape = out_shape.data();
    a.shift = shift.data();
    a.cell = input.shape(nd);
    a.mode = static_cast<fastconv::ScipyMode>(mode);
    a.cval = static_cast<Acc>(cval);
    std::vector<Acc> taps_weights(weights.data(), weights.data() + taps);
    a.taps = taps;
    a.tap_slot = tap_slot.data();
    a.tap_column = tap_column.data();
    a.weights = taps_weights.data();
    a.combine = combine_kind;
    a.group_sizes = group_sizes.data();
    a.groups = static_cast<int64_t>(group_sizes.size());
    a.slots = slots;
    a.slot_offsets = slot_offsets.data();
    a.column_low = *std::min_element(tap_column.begin(), tap_column.end());
    a.column_high = *std::max_element(tap_column.begin(), tap_column.end());
    const int threads = num_threads < 1 ? 1 : num_threads;
    a.num_threads = threads;
    // Few long lines (a 1-D signal, a thin image) are cut into column chunks for the threads.
    int64_t lines = 1;
    for (int k = 0; k + 1 < nd; ++k) lines *= out_shape[k];
    const int64_t width = out_shape[nd - 1];
    // In place (output == input), a job may only write the line it has read whole: one slot, no chunks.
    require(!in_place || (slots == 1 && input.shape(nd - 1) == output.shape(nd - 1) && input.size() == output.size()),
            "scipy_correlate: in place needs taps along the line only");
    int64_t chunks = 1;
    if (threads > 1 && lines < 4 * threads && !in_place)
        chunks = std::max<int64_t>(1, std::min<int64_t>((4 * threads + lines - 1) / lines, width / 256));
    a.chunk_positions = (width + chunks - 1) / chunks;
    a.chunks = (width + a.chunk_positions - 1) / a.chunk_positions;
    a.line_elements = (a.chunk_positions + a.column_high - a.column_low) * a.cell;
    std::vector<Acc> scratch(static_cast<size_t>(threads * (slots + 2) * a.line_elements));
    std::vector<int64_t> tags(static_cast<size_t>(threads * 3 * slots), -1);
    for (int t = 0; t < threads; ++t)
        for (int64_t c = 0; c < slots; ++c) tags[t * 3 * slots + slots + c] = 0;  // last used: no job yet
    std::vector<const Acc*> pointers(static_cast<size_t>(threads * (slots + taps)));
    a.scratch = scratch.data();
    a.tags = tags.data();
    a.pointers = pointers.data();
    a.input = input.data();
    a.output = output.mutable_data();
    py::gil_scoped_release release;  // the kernel touches no Python object
    if constexpr (std::is_same_v<Acc, float>)
        fastconv::kernels().scipy_correlate_f32(a);
    else
        fastconv::kernels().scipy_correlate_f64(a);
}

void scipy_correlate(const py::array& input, py::array& output, const std::vector<int64_t>& shift,
                     const Array<int64_t>& tap_offsets, const Array<double>& weights,
                     const std::vector<int64_t>& group_sizes, int combine, int mode, double cval,
                     bool single_precision, bool in_place, int num_threads) {
    if (single_precision)
        scipy_correlate_as<float>(input, output, shift, tap_offsets, weights, group_sizes, combine, mode, cval,
                                  in_place, num_threads);
    else
        scipy_correlate_as<double>(input, output, shift, tap_offsets, weights, group_sizes, combine, mode, cval,
                                   in_place, num_threads);
}

// input and output are (outer, length, inner), filtered along length.
void scipy_uniform(const py::array& input, py::array& output, int64_t size, int64_t before, int mode, double cval,
                   int num_threads) {
    require(input.ndim() == 3 && output.ndim() == 3, "scipy_uniform: input and output must be (outer, length, inner)");
    require(input.flags() & py::array::c_style, "scipy_uniform: input must be C-contiguous");
    require(output.writeable() && (output.flags() & py::array::c_style),
            "scipy_uniform: output must be C-contiguous and writeable");
    for (int k = 0; k < 3; ++k)
        require(input.shape(k) == output.shape(k) && input.shape(k) >= 1, "scipy_uniform: shapes differ or are empty");
    require(size >= 1 && before >= 0 && before < size, "scipy_uniform: size >= 1 and 0 <= before < size");
    require_scipy_mode(mode);
    fastconv::ScipyUniformArgs a;
    a.input_type = scipy_float_type(input, "input");
    a.output_type = scipy_float_type(output, "output");
    a.outer = input.shape(0);
    a.length = input.shape(1);
    a.inner = input.shape(2);
    a.size = size;
    a.before = before;
    a.mode = static_cast<fastconv::ScipyMode>(mode);
    a.cval = cval;
    const int threads = num_threads < 1 ? 1 : num_threads;
    a.num_threads = threads;
    constexpr int64_t kMaxLanes = 8;  // the widest double vector (AVX-512)
    if (a.inner == 1) {
        a.scratch_elements = (a.length + size - 1 + a.length) * kMaxLanes;
    } else {
        a.inner_chunk = std::min<int64_t>(a.inner, 1024);
        const int64_t wanted_jobs = 4 * threads;
        if (threads > 1 && a.outer * ((a.inner + a.inner_chunk - 1) / a.inner_chunk) < wanted_jobs) {
            const int64_t per_outer = (wanted_jobs + a.outer - 1) / a.outer;
            a.inner_chunk = std::max<int64_t>(std::min<int64_t>(a.inner, 64), (a.inner + per_outer - 1) / per_outer);
        }
        a.scratch_elements = 4 * a.inner_chunk;
    }
    std::vector<double> scratch(static_cast<size_t>(threads * a.scratch_elements));
    a.scratch = scratch.data();
    a.input = input.data();
    a.output = output.mutable_data();
    py::gil_scoped_release release;  // the kernel touches no Python object
    fastconv::kernels().scipy_uniform_f64(a);
}

template <typename T>
void bind_dtype(py::module_& m) {
    m.def("conv2d", &conv2d<T>, py::arg("input").noconvert(), py::arg("weight").noconvert(),
          py::arg("bias").noconvert().none(true), py::arg("output").noconvert(), py::arg("stride"),
          py::arg("padding"), py::arg("dilation"), py::arg("groups"), py::arg("relu"), py::arg("nhwc"),
          py::arg("num_threads"), py::arg("algorithm") = "auto");
    m.def("max_pool2d", &max_pool2d<T>, py::arg("input").noconvert(), py::arg("output").noconvert(),
          py::arg("indices").noconvert().none(true), py::arg("kernel_size"), py::arg("stride"),
          py::arg("padding"), py::arg("dilation"), py::arg("nhwc"), py::arg("num_threads"));
    m.def("avg_pool2d", &avg_pool2d<T>, py::arg("input").noconvert(), py::arg("output").noconvert(),
          py::arg("kernel_size"), py::arg("stride"), py::arg("padding"), py::arg("count_include_pad"),
          py::arg("divisor_override"), py::arg("nhwc"), py::arg("num_threads"));
}

}  // namespace

PYBIND11_MODULE(_core, m) {
    m.doc() = "fastconv compiled kernels (C++17, runtime SIMD dispatch, OpenMP). Private: use fastconv.";
    bind_dtype<float>(m);
    bind_dtype<double>(m);
    m.def("filter2d", &filter2d, py::arg("input"), py::arg("output"), py::arg("kernel").noconvert(),
          py::arg("row_taps").noconvert().none(true), py::arg("column_taps").noconvert().none(true),
          py::arg("pad_top_left"), py::arg("border"), py::arg("cval"), py::arg("double_precision"),
          py::arg("round_margin"), py::arg("num_threads"));
    m.def("thread_pool_lost_to_fork", &fastconv::thread_pool_lost_to_fork,
          "Whether this process was forked after its parent used the OpenMP pool (kernels then run on one thread).");
    m.def("scipy_correlate", &scipy_correlate, py::arg("input"), py::arg("output"), py::arg("shift"),
          py::arg("tap_offsets").noconvert(), py::arg("weights").noconvert(), py::arg("group_sizes"),
          py::arg("combine"), py::arg("mode"), py::arg("cval"), py::arg("single_precision"), py::arg("in_place"),
          py::arg("num_threads"));
    m.def("scipy_uniform", &scipy_uniform, py::arg("input"), py::arg("output"), py::arg("size"), py::arg("before"),
          py::arg("mode"), py::arg("cval"), py::arg("num_threads"));
    m.def("simd_level", [] { return std::string(fastconv::kernels().isa); },
          "The SIMD level of the active kernel table.");
    m.def("simd_levels", &fastconv::supported_simd_levels,
          "SIMD levels compiled in and supported by this CPU, lowest first.");
    m.def("_set_simd", &fastconv::set_simd_level, py::arg("level"),
          "Switch the active kernel table (tests and comparisons).");
    m.def("_set_cache_sizes", &fastconv::set_cache_sizes, py::arg("l1d"), py::arg("l2"), py::arg("l3"),
          "Set the cache sizes (bytes) the block sizes derive from (fastconv._cpu reads them).");
    m.def("cache_sizes", [] {
        const fastconv::CacheSizes c = fastconv::cache_sizes();
        py::dict d;
        d["l1d"] = c.l1d; d["l2"] = c.l2; d["l3"] = c.l3;
        return d;
    }, "The cache sizes (bytes) in force.");
    m.def("tuning", [] {
        const fastconv::Conv2dTuning t = fastconv::conv2d_tuning();
        py::dict d;
        d["conv2d_group_pack_bytes"] = t.group_pack_bytes;
        d["conv2d_image_pass_bytes"] = t.image_pass_bytes;
        d["conv2d_lane_band_bytes"] = t.lane_band_bytes;
        return d;
    }, "The block sizes derived from the cache sizes.");
    m.def("kernels", &fastconv::compiled_kernel_names, "Every compiled kernel, as <kernel>_<isa>.");
    m.def("cpu_features", [] {
        const fastconv::CpuFeatures f = fastconv::detect_cpu_features();
        py::dict d;
        d["sse2"] = f.sse2; d["avx"] = f.avx; d["avx2"] = f.avx2; d["fma"] = f.fma;
        d["avx512f"] = f.avx512f; d["avx512bw"] = f.avx512bw; d["avx512vl"] = f.avx512vl;
        d["avx512dq"] = f.avx512dq; d["neon"] = f.neon;
        return d;
    }, "The CPU features the dispatcher saw.");
#if defined(FASTCONV_OPENMP)
    m.attr("openmp") = true;
    m.def("max_threads", [] { return omp_get_max_threads(); }, "OpenMP's default thread count.");
#else
    m.attr("openmp") = false;
    m.def("max_threads", [] { return 1; }, "Built without OpenMP: kernels run on one thread.");
#endif
}
