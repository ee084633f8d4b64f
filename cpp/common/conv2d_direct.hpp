// Direct 2-D cross-correlation, written so the compiler vectorises the inner loops for the ISA
// the including file is built for. Included once per ISA by conv2d_direct_<isa>.cpp with
// FASTCONV_ISA set to the namespace name.
//   NCHW: one job per (image, output channel); each output row is accumulated in place, the
//         innermost loop running along the contiguous output row.
//   NHWC: one job per (image, output row); the innermost loop runs over output channels of a
//         group against the weight packed as (KH, KW, C_in/groups, C_out).
#include "common/params.hpp"
#include "common/util.hpp"

#ifndef FASTCONV_ISA
#error "define FASTCONV_ISA before including conv2d_direct.hpp"
#endif

namespace fastconv {
namespace FASTCONV_ISA {
namespace {

template <typename T>
void conv2d_direct_nchw(const Conv2dArgs<T>& a) {
    const int64_t in_per_group = a.in_channels / a.groups;
    const int64_t out_per_group = a.out_channels / a.groups;
    const int64_t in_plane = a.in_height * a.in_width;
    const int64_t out_plane = a.out_height * a.out_width;
    const int64_t kernel_area = a.kernel_height * a.kernel_width;
    const int64_t jobs = a.batch * a.out_channels;
    const int threads = a.num_threads;

    FASTCONV_PARALLEL_FOR_JOBS
    for (int64_t job = 0; job < jobs; ++job) {
        const int64_t n = job / a.out_channels;
        const int64_t oc = job % a.out_channels;
        const int64_t group = oc / out_per_group;
        const T* input_group = a.input + (n * a.in_channels + group * in_per_group) * in_plane;
        const T* weight_oc = a.weight + oc * in_per_group * kernel_area;
        T* out = a.output + job * out_plane;
        const T bias = a.bias ? a.bias[oc] : T(0);

        for (int64_t oh = 0; oh < a.out_height; ++oh) {
            T* out_row = out + oh * a.out_width;
            for (int64_t ow = 0; ow < a.out_width; ++ow) out_row[ow] = bias;
            for (int64_t ic = 0; ic < in_per_group; ++ic) {
                const T* in = input_group + ic * in_plane;
                const T* w = weight_oc + ic * kernel_area;
                for (int64_t kh = 0; kh < a.kernel_height; ++kh) {
                    const int64_t ih = oh * a.stride_h - a.pad_top + kh * a.dilation_h;
                    if (ih < 0 || ih >= a.in_height) continue;
                    const T* in_row = in + ih * a.in_width;
                    for (int64_t kw = 0; kw < a.kernel_width; ++kw) {
                        const T wv = w[kh * a.kernel_width + kw];
                        const int64_t offset = kw * a.dilation_w - a.pad_left;  // iw = ow*s + offset
                        int64_t lo, hi;
                        util::valid_output_range(offset, a.stride_w, a.in_width, a.out_width, &lo, &hi);
                        if (a.stride_w == 1) {
                            const T* src = in_row + offset;
                            for (int64_t ow = lo; ow < hi; ++ow) out_row[ow] += wv * src[ow];
                        } else {
                            const int64_t sw = a.stride_w;
                            for (int64_t ow = lo; ow < hi; ++ow) out_row[ow] += wv * in_row[ow * sw + offset];
                        }
                    }
                }
            }
            if (a.relu)
                for (int64_t ow = 0; ow < a.out_width; ++ow) out_row[ow] = util::relu(out_row[ow]);
        }
    }
}

template <typename T>
void conv2d_direct_nhwc(const Conv2dArgs<T>& a) {
    const int64_t in_per_group = a.in_channels / a.groups;
    const int64_t out_per_group = a.out_channels / a.groups;
    const int64_t jobs = a.batch * a.out_height;
    const int threads = a.num_threads;

    FASTCONV_PARALLEL_FOR_JOBS
    for (int64_t job = 0; job < jobs; ++job) {
        const int64_t n = job / a.out_height;
        const int64_t oh = job % a.out_height;
        const T* image = a.input + n * a.in_height * a.in_width * a.in_channels;
        for (int64_t ow = 0; ow < a.out_width; ++ow) {
            T* out = a.output + (job * a.out_width + ow) * a.out_channels;
            for (int64_t oc = 0; oc < a.out_channels; ++oc) out[oc] = a.bias ? a.bias[oc] : T(0);
            for (int64_t kh = 0; kh < a.kernel_height; ++kh) {
                const int64_t ih = oh * a.stride_h - a.pad_top + kh * a.dilation_h;
                if (ih < 0 || ih >= a.in_height) continue;
                for (int64_t kw = 0; kw < a.kernel_width; ++kw) {
                    const int64_t iw = ow * a.stride_w - a.pad_left + kw * a.dilation_w;
                    if (iw < 0 || iw >= a.in_width) continue;
                    const T* pixel = image + (ih * a.in_width + iw) * a.in_channels;
                    const T* w_tap = a.weight_hwio + (kh * a.kernel_width + kw) * in_per_group * a.out_channels;
                    for (int64_t group = 0; group < a.groups; ++group) {
                        T* out_group = out + group * out_per_group;
                        for (int64_t ic = 0; ic < in_per_group; ++ic) {
                            const T x = pixel[group * in_per_group + ic];
                            const T* w = w_tap + ic * a.out_channels + group * out_per_group;
                            for (int64_t oc = 0; oc < out_per_group; ++oc) out_group[oc] += x * w[oc];
                        }
                    }
                }
            }
            if (a.relu)
                for (int64_t oc = 0; oc < a.out_channels; ++oc) out[oc] = util::relu(out[oc]);
        }
    }
}

template <typename T>
void conv2d_direct(const Conv2dArgs<T>& a) {
    if (a.nhwc)
        conv2d_direct_nhwc(a);
    else
        conv2d_direct_nchw(a);
}

}  // namespace

void conv2d_f32_direct(const Conv2dArgs<float>& a) { conv2d_direct(a); }
void conv2d_f64_direct(const Conv2dArgs<double>& a) { conv2d_direct(a); }

}  // namespace FASTCONV_ISA
}  // namespace fastconv
