// Convolution entry point used by the bindings: picks the algorithm, prepares what its kernel
// needs (packed input and weights), and calls the active ISA's kernel.
#pragma once
#include "common/params.hpp"

namespace fastconv {

enum class Conv2dAlgorithm { automatic, direct, igemm, igemm_channels, winograd, depthwise };

template <typename T>
void conv2d(Conv2dArgs<T> args, Conv2dAlgorithm algorithm);

}  // namespace fastconv
