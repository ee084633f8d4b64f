"""One training step through a fastconv model and its torch twin compared parameter by
parameter; the twins (torchvision's AlexNet, ResNet and MobileNetV2 written out in torch, as
torchvision itself pulls a CUDA torch) live in fastconv.models._torch_twins, shared with
``fastconv bench models``."""

from __future__ import annotations

import contextlib

import numpy as np

import fastconv
from fastconv import nn, optim
from fastconv.models._torch_twins import torch_alexnet, torch_mobilenet_v2, torch_resnet  # noqa: F401 (the tests' twins)

# the done-when: float32 within 1e-4 relative, float64 within 1e-10
RTOL = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-10}


@contextlib.contextmanager
def single_threaded(torch):
    """torch and fastconv on one thread each, restored after: spinning thread pools on a busy
    2-core machine ran torch's float64 MobileNetV2 20x slower (the kernels' threading has its
    own tests)."""
    threads, our_threads = torch.get_num_threads(), fastconv.get_num_threads()
    torch.set_num_threads(1)
    fastconv.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        fastconv.set_num_threads(our_threads)


def randomise_batchnorm(model, rng):
    """Every BatchNorm2d's weight, bias and running statistics random (never the defaults)."""
    for _, module in model.named_modules():
        if isinstance(module, nn.BatchNorm2d):
            c = module.num_features
            module.weight.data[...] = rng.uniform(0.5, 1.5, c)
            module.bias.data[...] = 0.1 * rng.standard_normal(c)
            module.running_mean[...] = 0.1 * rng.standard_normal(c)
            module.running_var[...] = rng.uniform(0.5, 2.0, c)
            module.num_batches_tracked[...] = 3
    return model


def relative_error(actual, expected, scale=None):
    """max |actual - expected| over ``scale``, by default the largest magnitude of ``expected``."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    if scale is None:
        scale = float(np.abs(expected).max()) if expected.size else 0.0
    difference = float(np.abs(actual - expected).max()) if expected.size else 0.0
    return difference / scale if scale > 0 else difference


def assert_rel(actual, expected, rtol, what="", scale=None):
    """Within ``rtol`` of the largest magnitude of ``expected`` (or of ``scale``)."""
    error = relative_error(actual, expected, scale)
    assert error <= rtol, f"{what}: relative error {error:.3g} > {rtol:.3g}"


def assert_same_state(model, twin, rtol):
    """The same keys in the same order, shapes, dtypes and values (num_batches_tracked exactly;
    rtol 0: every value exactly)."""
    ours, theirs = model.state_dict(), twin.state_dict()
    assert list(ours) == list(theirs)
    for key, value in ours.items():
        expected = theirs[key].numpy()
        assert value.shape == expected.shape, key
        if value.dtype.kind == "f" and rtol > 0:
            assert_rel(value, expected, rtol, key)
        else:
            assert value.dtype == expected.dtype, key
            np.testing.assert_array_equal(value, expected, err_msg=key)


def assert_same_tree(model, twin):
    """The same module names and class names, in the same order."""
    assert [(name, type(m).__name__) for name, m in model.named_modules()] == \
        [(name, type(m).__name__) for name, m in twin.named_modules()]


def _record_kinks(torch, model, twins):
    """Record, at every ReLU and ReLU6 call of the models, where the gradient passes (0 < y, and
    y < 6 for ReLU6); returns our list, a list per twin, and a function that stops the recording."""
    ours, theirs, undo = [], [[] for _ in twins], []

    def passes(y, six):
        return (y > 0) & (y < 6) if six else y > 0

    for _, module in model.named_modules():
        if type(module) in (nn.ReLU, nn.ReLU6):
            # at the mask each call keeps for backward: also where Sequential fuses a Conv2d's ReLU
            def save(_module=module, **values):
                ours.append(values["_passes" if type(_module) is nn.ReLU6 else "_positive"])
                type(_module)._save(_module, **values)
            object.__setattr__(module, "_save", save)
            undo.append(lambda _module=module: object.__delattr__(_module, "_save"))
    for twin, found in zip(twins, theirs):
        for module in twin.modules():
            if type(module) in (torch.nn.ReLU, torch.nn.ReLU6):
                six = type(module) is torch.nn.ReLU6
                hook = module.register_forward_hook(
                    lambda m, i, y, _six=six, _found=found: _found.append(passes(y, _six).numpy()))
                undo.append(hook.remove)
    return ours, theirs, lambda: [u() for u in undo]


class _Judge:
    """Compares our values with the truth: in float64 the twin's, each within 1e-10 relative; in
    float32 a float64 twin's run on the same (float32) weights and input, each within 1e-4
    relative or, where torch's own float32 run is worse than that, within twice torch's worst
    error of the same kind (outputs, input gradient, parameter gradients, state after the step).
    Deep networks in training mode lose more than 1e-4 to float32 rounding in some gradients:
    MobileNetV2 up to about 3e-4, torch's float32 as well; which of two float32 runs comes out
    closer on one parameter is luck. ``errors`` keeps (kind, what, ours, torch float32's)."""

    def __init__(self, dtype):
        self.rtol = RTOL[np.dtype(dtype)]
        self.float32 = np.dtype(dtype) == np.float32
        self.errors = []

    def __call__(self, kind, what, ours, truth, theirs=None, scale=None):
        error = relative_error(ours, truth, scale)
        theirs_error = relative_error(theirs, truth, scale) if self.float32 else 0.0
        self.errors.append((kind, what, error, theirs_error))

    def verify(self):
        for kind in dict.fromkeys(k for k, *_ in self.errors):
            errors = [e for e in self.errors if e[0] == kind]
            limit = max(self.rtol, 2 * max(e[3] for e in errors))
            _, what, error, theirs_error = max(errors, key=lambda e: e[2])
            assert error <= limit, (f"{what}: relative error {error:.3g} > {limit:.3g} (torch float32's "
                                    f"worst {kind}: {max(e[3] for e in errors):.3g}, on this one {theirs_error:.3g})")


def _numpy(tensor):
    return tensor.detach().numpy()


def check_training_step(torch, model, make_twin, inputs, labels, dtype):
    """Eval outputs, then one SGD step (forward in training mode, cross-entropy, backward,
    momentum + weight-decay update) through ``model`` and a torch twin: outputs, loss, the
    input's and every parameter's gradient, the updated parameters and running statistics, and
    the eval outputs after the step, each judged by ``_Judge``. Returns the judge.

    ``make_twin(torch_dtype)`` builds the twin. ``inputs`` are candidate batches, used in turn
    until one puts no activation on a kink of ReLU / ReLU6 in one model and beside it in
    another: a float32 pre-activation within rounding of 0 (or 6) lets the whole upstream
    gradient through in one and not in the other, which no tolerance covers.
    """
    with single_threaded(torch):
        return _check_training_step(torch, model, make_twin, inputs, labels, dtype)


def _check_training_step(torch, model, make_twin, inputs, labels, dtype):
    judge = _Judge(dtype)
    state = model.state_dict()
    twins = [make_twin(torch.float64)] + ([make_twin(torch.float32)] if judge.float32 else [])
    for twin in twins:  # float32 weights load exactly into a float64 twin
        twin.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
        twin.eval()
    model.eval()
    inputs = iter(inputs)
    x = next(inputs)

    def run(twin, x):
        return twin(torch.from_numpy(x.astype(np.float64) if twin is twins[0] else x))

    def judge_eval(what):
        with torch.no_grad():
            outputs = [_numpy(run(twin, x)) for twin in twins]
        judge("outputs", what, model(x), *outputs)

    judge_eval("eval output")
    model.train()
    for twin in twins:
        twin.train()
    while True:
        model.load_state_dict(state)  # a rejected candidate moved the running statistics
        for twin in twins:
            twin.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
        ours, theirs, stop = _record_kinks(torch, model, twins)
        try:
            logits = model(x)
            tx = [torch.tensor(x.astype(np.float64) if twin is twins[0] else x, requires_grad=True) for twin in twins]
            torch_logits = [twin(t) for twin, t in zip(twins, tx)]
        finally:
            stop()
        assert len(theirs[0]) == len(ours) > 0
        if all(np.array_equal(a, b) for other in theirs for a, b in zip(ours, other)):
            break
        x = next(inputs, None)
        assert x is not None, "every candidate input put an activation on a ReLU / ReLU6 kink"
    criterion = nn.CrossEntropyLoss()
    loss = criterion(logits, labels)
    grad_input = model.backward(criterion.backward())
    torch_losses = [torch.nn.functional.cross_entropy(t, torch.from_numpy(labels)) for t in torch_logits]
    for torch_loss in torch_losses:
        torch_loss.backward()
    judge("outputs", "train output", logits, *[_numpy(t) for t in torch_logits])
    judge("outputs", "loss", loss, *[t.item() for t in torch_losses])
    judge("input gradient", "input gradient", grad_input, *[t.grad.numpy() for t in tx])
    named = [dict(twin.named_parameters()) for twin in twins]
    assert [name for name, _ in model.named_parameters()] == list(named[0])
    parameters = dict(model.named_parameters())
    for prefix, module in model.named_modules():
        own = [(prefix + "." if prefix else "") + name for name, p in module._parameters.items() if p is not None]
        # a layer's gradients judged on the scale of the largest of them: the gradient of a
        # BatchNorm bias whose shift the next BatchNorm removes is 0 up to rounding
        scale = max((float(np.abs(named[0][name].grad.numpy()).max()) for name in own), default=0.0)
        for name in own:
            parameter = parameters[name]
            assert parameter.grad.dtype == np.dtype(dtype), name
            judge("parameter gradients", f"gradient of {name}", parameter.grad,
                  *[n[name].grad.numpy() for n in named], scale=scale)
    optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    optimizer.step()
    for twin in twins:
        torch.optim.SGD(twin.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4).step()
    after = [twin.state_dict() for twin in twins]
    for key, value in model.state_dict().items():  # updated parameters, running statistics, batches tracked
        if value.dtype.kind == "f":
            judge("state after the step", key, value, *[a[key].numpy() for a in after])
        else:
            np.testing.assert_array_equal(value, after[0][key].numpy(), err_msg=key)
    model.eval()
    for twin in twins:
        twin.eval()
    judge_eval("eval output after the step")
    judge.verify()
    return judge
