"""``ElementwiseKernel``, ``ReductionKernel`` and ``RawKernel`` on the fake: one launch, run by a NumPy twin.

The fake cannot compile CUDA C, so a kernel runs the NumPy function that the module which made it
names as its twin: ``NUMPY_TWINS[name]`` in that module's globals (minicnn/fused/conv.py has them;
the tests there compare the twin with the plain code, and on a real GPU with the C kernel). The twin
takes the kernel's arguments (device arrays and scalars, outputs included when the caller gives
them) and returns what the kernel returns; its own CuPy calls are not counted: they are one kernel.
"""
import sys

from cupy import fake


class _Kernel:
    def __init__(self, name, source, creator_globals):
        twins = creator_globals.get("NUMPY_TWINS", {})
        if name not in twins:
            raise NotImplementedError(
                f"fake CuPy: kernel {name!r} has no NumPy twin (NUMPY_TWINS[{name!r}] in "
                f"{creator_globals.get('__name__')}); the fake cannot compile CUDA C")
        self.name, self.source, self._twin = name, source, twins[name]

    def _run(self, *args):
        fake.record_launch(f"kernel {self.name}")
        with fake.inside_fused_kernel():
            return self._twin(*args)


class ElementwiseKernel(_Kernel):
    def __init__(self, in_params, out_params, operation, name="kernel", **options):
        super().__init__(name, operation, sys._getframe(1).f_globals)
        self.in_params, self.out_params = in_params, out_params

    def __call__(self, *args, size=None, stream=None):
        return self._run(*args)


class ReductionKernel(ElementwiseKernel):
    def __init__(self, in_params, out_params, map_expr, reduce_expr, post_map_expr, identity, name="reduce_kernel",
                 **options):
        _Kernel.__init__(self, name, map_expr, sys._getframe(1).f_globals)
        self.in_params, self.out_params = in_params, out_params


class RawKernel(_Kernel):
    def __init__(self, code, name, **options):
        super().__init__(name, code, sys._getframe(1).f_globals)

    def __call__(self, grid, block, args, **options):
        return self._run(*args)
