from setuptools import find_packages, setup

setup(
    name="minicnn",
    version="0.1.0",
    description="A from-scratch CNN framework on NumPy/CuPy with hand-written backward passes",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["minicnn", "minicnn.*"]),
    python_requires=">=3.10",
    install_requires=["numpy>=1.24", "safetensors", "pillow", "tqdm", "matplotlib"],
    extras_require={
        # CuPy with its CUDA libraries (NVRTC, cuBLAS) from PyPI: an NVIDIA driver for CUDA 13 (or, with
        # gpu-cuda12, for CUDA 12) is all the machine needs. README "Devices" says which to pick.
        "gpu": ["cupy-cuda13x[ctk]"],
        "gpu-cuda12": ["cupy-cuda12x[ctk]"],
        "fast": ["numba"],
        # Data-parallel training; needs an MPI library (apt-get install openmpi-bin libopenmpi-dev).
        "dist": ["mpi4py>=4"],
        # python -m minicnn.export: onnx writes and checks the file, onnxruntime runs it.
        "onnx": ["onnx", "onnxruntime"],
        # minicnn.utils.tensorboard.SummaryWriter and python -m minicnn.train --tensorboard.
        "tensorboard": ["tensorboard"],
        # torch is a test/benchmark oracle only; minicnn/ never imports it. pydot parses the
        # graph pictures' DOT text back in the tests; mpi4py runs the 2-rank training tests.
        # Pinned exactly: any other version pulls gigabytes of CUDA wheels.
        "dev": ["pytest", "pytest-xdist", "hypothesis", "torch==2.13.0", "numba", "threadpoolctl", "dezero",
                "pydot", "mkdocs", "nbclient", "nbformat", "ipykernel", "mpi4py>=4", "onnx", "onnxruntime",
                "tensorboard"],
    },
)
