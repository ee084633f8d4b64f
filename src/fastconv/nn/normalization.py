"""``BatchNorm2d``: per-channel batch normalisation with running statistics (buffers)."""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from .. import _validate
from .module import Module, Parameter, _accumulate

_AXES = (0, 2, 3)  # N, H, W: the statistics are per channel


def _channel(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """A (C,) vector as (C, 1, 1) in ``dtype``, to broadcast over an NCHW array."""
    return values.astype(dtype, copy=False)[:, None, None]


class BatchNorm2d(Module):
    """Batch normalisation of (N, C, H, W) input, as ``torch.nn.BatchNorm2d``.

    ``y = (x - mean) / sqrt(var + eps) * weight + bias`` for each channel. In training mode mean and
    var are the batch's (over N, H and W; the biased variance), and the running statistics move
    towards them: ``running = (1 - momentum) * running + momentum * batch``, with the unbiased
    variance for ``running_var`` (``momentum=None``: the cumulative average, momentum
    1 / ``num_batches_tracked``). In eval mode the running statistics normalise; without them
    (``track_running_stats=False``) the batch's always do.

    Parameters
    ----------
    num_features : int
        C, the channels of the input.
    eps : float
        Added to the variance before its square root.
    momentum : float or None
        Weight of the batch in the running statistics' update; None for the cumulative average.
    affine : bool
        Learnable ``weight`` (ones) and ``bias`` (zeros) per channel.
    track_running_stats : bool
        Keep the buffers ``running_mean`` (zeros), ``running_var`` (ones) and
        ``num_batches_tracked`` (int64, 0), which ``state_dict()`` holds under torch's names.
    bias : bool, keyword-only
        With ``affine``, whether there is a ``bias`` (torch's keyword).
    dtype : float32 or float64, keyword-only
        Of the parameters and the running statistics.

    Notes
    -----
    The output has the input's dtype; sums are accumulated in float64. ``backward`` after a
    training-mode forward gives the full gradient through the batch's statistics. Like every
    layer, it keeps what backward needs in training mode only: an eval-mode forward (inference)
    holds no reference to its input, and backward after one raises RuntimeError.

    Examples
    --------
    >>> import numpy as np
    >>> from fastconv import nn
    >>> bn = nn.BatchNorm2d(3)
    >>> x = np.random.default_rng(0).normal(5.0, 2.0, (4, 3, 6, 6)).astype(np.float32)
    >>> y = bn(x)
    >>> bool(np.allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-5) and np.allclose(y.std(axis=(0, 2, 3)), 1, atol=1e-3))
    True
    >>> list(bn.state_dict())
    ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']
    >>> int(bn.num_batches_tracked), bn.running_mean.round(1)
    (1, array([0.5, 0.5, 0.5], dtype=float32))
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: Optional[float] = 0.1, affine: bool = True,
                 track_running_stats: bool = True, *, bias: bool = True, dtype=np.float32) -> None:
        super().__init__()
        name = "BatchNorm2d"
        self.num_features = _validate.positive_int(num_features, "num_features", name)
        if not eps > 0:
            msg = f"{name}: `eps` must be positive, got {eps}"
            raise ValueError(msg)
        self.eps = float(eps)
        self.momentum = None if momentum is None else float(momentum)
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        dtype = np.dtype(dtype)
        self.weight = Parameter(np.ones(self.num_features, dtype)) if self.affine else None
        self.bias = Parameter(np.zeros(self.num_features, dtype)) if self.affine and bias else None
        for parameter in ("weight", "bias"):
            if getattr(self, parameter) is None:
                self._parameters[parameter] = None
        tracked = self.track_running_stats
        self.register_buffer("running_mean", np.zeros(self.num_features, dtype) if tracked else None)
        self.register_buffer("running_var", np.ones(self.num_features, dtype) if tracked else None)
        self.register_buffer("num_batches_tracked", np.zeros((), np.int64) if tracked else None)

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = _validate.float_array(x, "input", "BatchNorm2d")
        if x.ndim != 4:
            msg = f"BatchNorm2d: `input` must be 4-D (N, C, H, W), got shape {x.shape}"
            raise ValueError(msg)
        if x.shape[1] != self.num_features:
            msg = (f"BatchNorm2d: `input` of shape {x.shape} has {x.shape[1]} channels, the layer expects "
                   f"num_features={self.num_features}")
            raise ValueError(msg)
        if self.training or self.running_mean is None:
            return self._batch_forward(x)
        return self._running_forward(x)

    def _weight_bias(self) -> Tuple[np.ndarray, np.ndarray]:
        """weight and bias in float64, ones and zeros where the layer has none."""
        weight = np.ones(self.num_features) if self.weight is None else self.weight.data.astype(np.float64)
        bias = np.zeros(self.num_features) if self.bias is None else self.bias.data.astype(np.float64)
        return weight, bias

    def _batch_forward(self, x: np.ndarray) -> np.ndarray:
        n, _, height, width = x.shape
        count = n * height * width
        if count == 1:
            msg = f"BatchNorm2d: expected more than 1 value per channel when training, got input of shape {x.shape}"
            raise ValueError(msg)
        update = self.running_mean is not None  # so in training mode: eval mode normalises with them
        if update:
            self.num_batches_tracked += 1
        divisor = max(count, 1)  # an empty batch gives an empty output and leaves the statistics
        mean = x.sum(axis=_AXES, dtype=np.float64) / divisor
        normalised = x - _channel(mean, x.dtype)
        var = np.square(normalised).sum(axis=_AXES, dtype=np.float64) / divisor
        invstd = 1.0 / np.sqrt(var + self.eps)
        normalised *= _channel(invstd, x.dtype)
        if update and count > 0:
            factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
            self.running_mean *= 1.0 - factor
            self.running_mean += factor * mean
            self.running_var *= 1.0 - factor
            self.running_var += factor * var * (count / (count - 1))
        self._save(_cache=("batch", normalised, invstd))
        weight, bias = self._weight_bias()
        y = normalised * _channel(weight, x.dtype)
        y += _channel(bias, x.dtype)
        return y

    def running_affine(self) -> Optional[Tuple[np.ndarray, np.ndarray]]:
        """Eval mode's per-channel map ``y = x * scale + shift`` as float64 ``(scale, shift)``, from
        the running statistics; None where the batch's statistics normalise (training mode, or
        ``track_running_stats=False``). A convolution before the layer can take it into its
        weights and bias (``nn.conv_norm_activation``)."""
        if self.training or self.running_mean is None:
            return None
        mean = self.running_mean.astype(np.float64)
        invstd = 1.0 / np.sqrt(self.running_var.astype(np.float64) + self.eps)
        weight, bias = self._weight_bias()
        scale = weight * invstd
        return scale, bias - mean * scale

    def _running_forward(self, x: np.ndarray) -> np.ndarray:
        scale, shift = self.running_affine()
        # the affine map in one multiply and one add, as torch's CPU kernel
        y = x * _channel(scale, x.dtype)
        y += _channel(shift, x.dtype)
        self._save(_cache=None)  # eval mode: nothing kept, and no stale training cache either
        return y

    def backward(self, grad_output: np.ndarray, need_input: bool = True) -> Optional[np.ndarray]:
        cache = self._saved("_cache")
        grad = np.asarray(grad_output)
        if grad.shape != cache[1].shape:
            msg = f"BatchNorm2d.backward: `grad_output` has shape {grad.shape}, the forward's output {cache[1].shape}"
            raise ValueError(msg)
        dtype = cache[1].dtype
        weight, _ = self._weight_bias()
        _, normalised, invstd = cache
        grad_bias = grad.sum(axis=_AXES, dtype=np.float64)
        grad_weight = (grad * normalised).sum(axis=_AXES, dtype=np.float64)
        _accumulate(self.weight, grad_weight)
        _accumulate(self.bias, grad_bias)
        if not need_input:
            return None
        # through the batch's mean and variance: (weight * invstd) * (g - mean(g) - x_hat * mean(g * x_hat))
        count = max(1, normalised.size // self.num_features)
        grad_input = normalised * _channel(grad_weight / count, dtype)
        np.subtract(grad, grad_input, out=grad_input)
        grad_input -= _channel(grad_bias / count, dtype)
        grad_input *= _channel(weight * invstd, dtype)
        return grad_input

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")
