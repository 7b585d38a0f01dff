"""One SGD kernel for a whole parameter group: parameters and momentum buffers in flat device buffers.

A kernel per parameter is 59 launches for ResNet-20's 59 tensors. Here the group's parameters live
as views into one flat array, and so do their momentum buffers, so the update is one kernel over
all of them; the step copies the gradients into one flat array first (one ``concatenate``).

The views are made on the first step: each ``p.array`` becomes a view of the flat array, holding the
same values (modules read ``p.array`` at every call, so they see it). Anything that later puts
another array in its place (``model.to(...)``, ``p.data = ...``, ``optimizer.load_state_dict``) is
noticed at the next step, which copies the values in again.
"""
from minicnn.backend import get_array_module


class FlatGroup:
    """The flat parameter and momentum arrays of one parameter group, and the views handed out."""

    def __init__(self):
        self.views = None           # (parameter views, buffer views), each a list in group order

    def bind(self, params, state):
        """Make every p.array and state[p]["momentum_buffer"] a view of the flat arrays (if it is not)
        and return (flat parameters, flat buffers)."""
        buffers = [state[p]["momentum_buffer"] for p in params]
        if self.views is None or not _same(self.views[0], [p.array for p in params]) \
                or not _same(self.views[1], buffers):
            self._build(params, buffers, state)
        return self.flat

    def _build(self, params, buffers, state):
        xp = get_array_module(params[0].array)
        flat_params = xp.concatenate([p.array.ravel() for p in params])
        flat_buffers = xp.concatenate([b.ravel() for b in buffers])
        param_views, buffer_views = _split(flat_params, params), _split(flat_buffers, params)
        for p, param_view, buffer_view in zip(params, param_views, buffer_views):
            p.array = param_view
            state[p]["momentum_buffer"] = buffer_view
        self.flat, self.views = (flat_params, flat_buffers), (param_views, buffer_views)


def _split(flat, params):
    """Views of ``flat`` shaped like each parameter, in order."""
    views, start = [], 0
    for p in params:
        size = p.array.size
        views.append(flat[start:start + size].reshape(p.array.shape))
        start += size
    return views


def _same(views, arrays):
    return len(views) == len(arrays) and all(v is a for v, a in zip(views, arrays))
