"""The graph of one forward pass as the GraphDef that TensorBoard's Graphs tab draws (add_graph).

The model runs once on the example input while autograd records it; the record is walked as
minicnn.viz.graph walks it. Each op becomes a node named by the module it ran in, split at the
dots ("LeNet5/features/0/Conv2d_3"), so that TensorBoard folds every module into a box that opens
onto its ops; parameters sit inside their module, the inputs and outputs are "IO Node"s, and each
node carries its output shapes (_output_shapes), which TensorBoard writes on the edges.
"""
import minicnn as mc
from minicnn.names import ModuleNames
from minicnn.tensor import Tensor
from minicnn.viz.graph import _walk

__all__ = ["graph_def"]


def graph_def(model, inputs):
    """The GraphDef of ``model(*inputs)``; inputs are Tensors or arrays (made Tensors by model.as_input)."""
    from tensorboard.compat.proto import attr_value_pb2, graph_pb2, node_def_pb2, tensor_shape_pb2

    def shapes(*shape_list):
        dims = [tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=s) for s in shape])
                for shape in shape_list]
        return {"_output_shapes": attr_value_pb2.AttrValue(list=attr_value_pb2.AttrValue.ListValue(shape=dims))}

    inputs = [x if isinstance(x, Tensor) else model.as_input(x) for x in inputs]
    with mc.enable_grad():                      # the record is what is drawn, even under no_grad
        outputs = model(*inputs)
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    names = ModuleNames()
    names.add_root(model)
    root = type(model).__name__

    def scope(qualified):
        return root if qualified == root else f"{root}/{qualified.replace('.', '/')}"

    functions, leaves = _walk(outputs)
    node_name, nodes = {}, []
    for i, x in enumerate(leaves):
        parameter = names.parameter(x)
        if parameter is not None:
            module, _, attribute = parameter.rpartition(".")
            name, op = f"{scope(module or root)}/{attribute}", "Parameter"
        else:
            given = next((k for k, given in enumerate(inputs) if given is x), None)
            name, op = (f"input/input.{given}", "IO Node") if given is not None else (f"{root}/constant.{i}", "Constant")
        node_name[id(x)] = name
        nodes.append(node_def_pb2.NodeDef(name=name, op=op, attr=shapes(x.shape)))
    for i, f in enumerate(functions):
        module = getattr(f, "module", None)
        name = f"{scope(names.module(module)) if module is not None else root}/{type(f).__name__}_{i}"
        node_name[id(f)] = name
        sources = [node_name[id(x.creator) if x.creator is not None else id(x)] for x in f.inputs]
        nodes.append(node_def_pb2.NodeDef(name=name, op=type(f).__name__, input=sources,
                                       attr=shapes(*(shape for shape, _ in f.output_meta))))
    for i, y in enumerate(outputs):
        source = node_name[id(y.creator) if y.creator is not None else id(y)]
        nodes.append(node_def_pb2.NodeDef(name=f"output/output.{i}", op="IO Node", input=[source], attr=shapes(y.shape)))
    return graph_pb2.GraphDef(node=nodes)
