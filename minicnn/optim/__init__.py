"""Optimisers, learning-rate schedules and gradient clipping, with PyTorch's names and semantics."""
from minicnn.optim import lr_scheduler
from minicnn.optim.adadelta import Adadelta
from minicnn.optim.adagrad import Adagrad
from minicnn.optim.adam import Adam, AdamW
from minicnn.optim.clip import clip_grad_norm_
from minicnn.optim.optimizer import Optimizer
from minicnn.optim.rmsprop import RMSprop
from minicnn.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "RMSprop", "Adam", "AdamW", "Adadelta", "Adagrad", "lr_scheduler", "clip_grad_norm_"]
