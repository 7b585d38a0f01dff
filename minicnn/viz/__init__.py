"""Seeing inside a network: graph pictures (graph.py), filters and feature maps (images.py).

The profiler and the backward trace live beside the engine: ``minicnn.profile()`` and
``minicnn.trace()``. Command line: ``python -m minicnn.viz graph --arch resnet20 --out graph.svg``
and ``python -m minicnn.viz filters --checkpoint PATH --layer conv1``.
"""
from minicnn.viz.graph import DotGraph, graph
from minicnn.viz.images import feature_maps, filters, image_grid

__all__ = ["graph", "DotGraph", "filters", "feature_maps", "image_grid"]
