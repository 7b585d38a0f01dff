"""Tools around training, under PyTorch's names: minicnn.utils.tensorboard.SummaryWriter (needs the
tensorboard package, pip install -e ".[tensorboard]"; imported only when used)."""
