"""INT (Zhang et al., Nonparametric Teaching of INRs, ICML 2024): the top-B points by L1 error.

One no-grad forward over all N points (shared through the SelectionContext),
each point scored by its L1 error summed over channels.
"""
from samplers.base import Sampler, Selection


class IntSampler(Sampler):
    name = "int"

    def choose(self, ctx, batch_size):
        return Selection(ctx.errors().topk(batch_size, sorted=False).indices)
