"""Uniform: B points drawn uniformly without replacement at each re-selection."""
from samplers.base import Sampler, Selection


class UniformSampler(Sampler):
    name = "uniform"

    def choose(self, ctx, batch_size):
        return Selection(self.random_indices(self.n_points, batch_size, ctx.coords.device))
