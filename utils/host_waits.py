"""Find the operations that make the host wait for a GPU, on any device, the CPU included.

On a GPU, the host queues kernels and runs ahead; an operation that needs a tensor's value
(or size) on the host stops it until the device has caught up, and a Python value copied into
a device tensor is a host-to-device copy. torch.cuda.set_sync_debug_mode finds these only on a
GPU; `HostWaits` finds them on the CPU too, by the operations themselves (imports nothing of
the project):

    with HostWaits() as waits:
        selection = sampler.select(step, model, coords, targets)
    assert not waits.found, waits.found      # e.g. ['item()', 'nonzero']

What counts (`found` holds one short name per occurrence, in order):
- reading a value on the host: `.item()`, `float(t)`, `int(t)`, `bool(t)` (aten._local_scalar_dense),
  `.tolist()`, `.numpy()`, `.cpu()` and `.to('cpu')` of a tensor on another device;
- an output whose size depends on values: `nonzero` (not `nonzero_static`), `masked_select`,
  boolean-mask indexing `t[mask]` (read and write), `unique`, `repeat_interleave` without `output_size`;
- a tensor from Python values: `torch.tensor(...)`, `torch.as_tensor` of a list or number, and a
  Python number written through an index tensor, `t[idx] = 0.0` (a host-to-device copy of the
  value on many torch versions; `t.index_fill_(0, idx, 0.0)` is not);
- a copy between the CPU and another device (`_to_copy`, `copy_`).
"""
import numbers

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

aten = torch.ops.aten

# Operators (dispatch level) whose output size, or whose result, the host must read.
_SIZE_FROM_VALUES = {
    aten.nonzero.default: "nonzero", aten.masked_select.default: "masked_select",
    aten._local_scalar_dense.default: "item()", aten.unique_consecutive.default: "unique",
    aten._unique2.default: "unique", aten.unique_dim.default: "unique",
    aten.repeat_interleave.Tensor: "repeat_interleave",
}
# Tensor methods (function level) that hand a value to Python.
_HOST_READS = {torch.Tensor.tolist: "tolist()", torch.Tensor.numpy: "numpy()"}  # .item(): aten level


def _has_bool_index(indices) -> bool:
    return any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in indices or ())


def _holds_tensor(key) -> bool:
    """key (of t[key]) indexes with a tensor of one or more dimensions."""
    keys = key if isinstance(key, tuple) else (key,)
    return any(isinstance(k, torch.Tensor) and k.ndim > 0 for k in keys)


class _Dispatch(TorchDispatchMode):
    def __init__(self, found):
        super().__init__()
        self.found = found

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = _SIZE_FROM_VALUES.get(func)
        if func is aten.repeat_interleave.Tensor and kwargs.get("output_size") is not None:
            name = None
        if func in (aten.index.Tensor, aten.index_put_.default, aten.index_put.default) and _has_bool_index(args[1]):
            name = "boolean-mask indexing"
        if func is aten._to_copy.default and "device" in kwargs:
            src, dst = args[0].device, torch.device(kwargs["device"])
            if src.type != dst.type and "cpu" in (src.type, dst.type):
                name = f"copy {src.type} -> {dst.type}"
        if func is aten.copy_.default:
            dst, src = args[0].device, args[1].device
            if src.type != dst.type and "cpu" in (src.type, dst.type) and args[1].ndim > 0:
                name = f"copy {src.type} -> {dst.type}"
        if name:
            self.found.append(name)
        return func(*args, **kwargs)


class _Function(TorchFunctionMode):
    def __init__(self, found):
        super().__init__()
        self.found = found

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = _HOST_READS.get(func)
        if func is torch.tensor:
            name = "torch.tensor(...)"
        elif func is torch.as_tensor and not isinstance(args[0] if args else kwargs.get("data"), torch.Tensor):
            name = "torch.as_tensor(...)"
        elif func in (torch.Tensor.cpu, torch.Tensor.to) and args and isinstance(args[0], torch.Tensor):
            target = "cpu" if func is torch.Tensor.cpu else _target_device(args[1:], kwargs)
            if target == "cpu" and args[0].device.type != "cpu":
                name = f"{func.__name__}() to the host"
        elif func is torch.Tensor.__setitem__ and len(args) == 3:
            if isinstance(args[2], (numbers.Number, bool)) and _holds_tensor(args[1]):
                name = "Python value written through an index tensor"
        if name:
            self.found.append(name)
        return func(*args, **kwargs)


def _target_device(args, kwargs):
    """The device type a Tensor.to(...) call names, or None."""
    for value in list(args) + [kwargs.get("device")]:
        if isinstance(value, (str, torch.device)):
            return torch.device(value).type
    return None


class HostWaits:
    """Context manager: `found` lists (by short name, in order) every operation inside it that
    makes the host wait for the device on a GPU (see the module's docstring)."""

    def __init__(self):
        self.found = []
        self._modes = [_Function(self.found), _Dispatch(self.found)]

    def __enter__(self):
        for mode in self._modes:
            mode.__enter__()
        return self

    def __exit__(self, *exc):
        for mode in reversed(self._modes):
            mode.__exit__(*exc)
        return False
