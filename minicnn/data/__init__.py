"""Data: datasets read from local files, batched NumPy transforms, and a prefetching DataLoader."""
from minicnn.data.datasets import (DATASETS, ArrayDataset, DataError, DataMissing, cifar10, cifar100, data_root,
                                   fashion_mnist, image_folder, load_dataset, mnist)
from minicnn.data.idx import read_idx
from minicnn.data.loader import DataLoader
from minicnn.data import transforms
