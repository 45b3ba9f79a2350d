"""How many points one pass takes at once, per device (imports nothing of the project).

Every pass over many points (the training step on any batch, the samplers' no-grad
forward over all N, evaluation) runs in chunks of at most this many points. On a CPU,
chunks that stay in cache are faster than one big pass (benchmarks/ntk_cost.py prints
chunked against unchunked); on a GPU large chunks keep the device busy, and chunks only
bound the memory. `TRAIN_CONFIGS.forward_chunk` and `TRAIN_CONFIGS.step_chunk` take
`auto` (these sizes), 0 (one piece) or a number of points; a run records the resolved
numbers in its config.yaml, so that a resumed or repeated run chunks alike. The NTK score
takes its own size (`nint.ntk_chunk`, 0 = automatic).
"""
import torch

# Points per chunk, by pass: the no-grad forward over many points (samplers, evaluation), the
# training step, and NINT's NTK score (its VJP and JVP, samplers/ntk.py: on a CPU 1.45 s
# against 2.37 s unchunked for 65,536 points, benchmarks/ntk_cost.py).
AUTO_CHUNK_POINTS = {
    "forward": {"cpu": 4096, "cuda": 1 << 20},
    "step": {"cpu": 4096, "cuda": 1 << 18},
    "ntk": {"cpu": 16384, "cuda": 1 << 18},
}


def chunk_points(value, device_type: str, kind: str) -> int:
    """The chunk size in points for a config value: 'auto' -> AUTO_CHUNK_POINTS[kind][device_type]
    (a GPU other than CUDA gets the CUDA size), 0 -> 0 (one piece), a positive number -> itself."""
    if value == "auto":
        sizes = AUTO_CHUNK_POINTS[kind]
        return sizes.get(device_type, sizes["cuda"])
    return int(value)


def chunk_slices(n: int, chunk: int):
    """Slices covering range(n) in pieces of at most `chunk` (one piece when chunk is 0 or >= n)."""
    if not chunk or n <= chunk:
        return [slice(0, n)]
    return [slice(i, min(i + chunk, n)) for i in range(0, n, chunk)]


def forward_in_chunks(model, coords: torch.Tensor, chunk: int = 0) -> torch.Tensor:
    """model(coords) without gradients, [N, C] for coords [N, in], in chunks of at most `chunk`
    points (0 = one piece): the samplers' forward over all N points and the tasks' evaluation."""
    with torch.no_grad():
        pieces = chunk_slices(coords.shape[0], chunk)
        if len(pieces) == 1:
            return model(coords)
        return torch.cat([model(coords[piece]) for piece in pieces])
