"""Qualified names ("layer1.0.conv1", "fc.weight") for modules and parameters met while watching.

The engine records which Module object each op ran in; a name only exists relative to a root
model. Observers (profiler, trace) and the graph drawer learn roots as they go and look names
up here, falling back to the class name for a module no known root contains.
"""

__all__ = ["ModuleNames"]


class ModuleNames:
    def __init__(self):
        self.roots = []       # kept alive so that the ids below stay theirs
        self._modules = {}    # id(module) -> qualified name
        self._params = {}     # id(parameter) -> qualified name
        self._buffers = {}    # id(buffer) -> qualified name ("bn1.running_mean")

    def add_root(self, root):
        if id(root) in self._modules:
            return
        self.roots.append(root)
        for name, module in root.named_modules():
            self._modules.setdefault(id(module), name or type(root).__name__)
        for name, param in root.named_parameters():
            self._params.setdefault(id(param), name)
        for name, buffer in root.named_buffers():
            self._buffers.setdefault(id(buffer), name)

    def module(self, module):
        """The qualified name, the class name for a module of no known root, "-" for None."""
        if module is None:
            return "-"
        return self._modules.get(id(module), type(module).__name__)

    def parameter(self, tensor):
        """The qualified name of a parameter of a known root, else None."""
        return self._params.get(id(tensor))

    def buffer(self, tensor):
        """The qualified name of a buffer (batch norm's running statistics) of a known root, else None."""
        return self._buffers.get(id(tensor))
