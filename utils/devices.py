"""How many points one pass takes at once, per device (imports nothing of the project).

Every pass over many points (the training step on any batch, the samplers' no-grad
forward over all N, evaluation) runs in chunks of at most this many points. On a CPU,
chunks that stay in cache are faster than one big pass (benchmarks/ntk_cost.py prints
chunked against unchunked); on a GPU large chunks keep the device busy, and chunks only
bound the memory. `TRAIN_CONFIGS.forward_chunk` and `TRAIN_CONFIGS.step_chunk` take
`auto` (these sizes), 0 (one piece) or a number of points; a run records the resolved
numbers in its config.yaml, so that a resumed or repeated run chunks alike.
"""
# points per chunk: (no-grad forward / evaluation, training step)
AUTO_CHUNK_POINTS = {
    "forward": {"cpu": 4096, "cuda": 1 << 20},
    "step": {"cpu": 4096, "cuda": 1 << 18},
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
