"""Standard training: every point, every step (the batch-size scheduler does not apply)."""
import torch

from samplers.base import Sampler, Selection


class StandardSampler(Sampler):
    name = "standard"
    batch_from_ratio = False  # every point, whatever nint.mt_ratio says

    def batch_size(self, step):
        return self.n_points

    def choose(self, ctx, batch_size):
        return Selection(torch.arange(self.n_points, device=ctx.coords.device))
