"""The optimiser and the learning-rate schedule a training config asks for."""
from minicnn import optim
from minicnn.optim import lr_scheduler as sched

__all__ = ["make_optimizer", "make_schedule", "LENGTH_BOUND"]

LENGTH_BOUND = ("cosine", "multistep")      # schedules whose lr at an epoch depends on the number of epochs


def make_optimizer(config, params, world):
    name, wd = config["optimizer"], config["weight_decay"]
    lr = config["lr"] * (world.size if config.get("scale_lr") else 1)
    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=config["momentum"], weight_decay=wd)
    if name == "rmsprop":
        return optim.RMSprop(params, lr=lr, alpha=0.9, eps=1.0, momentum=config["momentum"], weight_decay=wd)
    if name == "adam":
        return optim.Adam(params, lr=lr, weight_decay=wd)
    return optim.AdamW(params, lr=lr, weight_decay=wd)


def make_schedule(config, optimizer, world):
    """The schedule at epoch 0 (None for 'none'); a warm-up wraps the others (not 'plateau': the
    flags' check refuses that pair)."""
    epochs, kind = config["epochs"], config["schedule"]
    after = {
        "multistep": lambda: sched.MultiStepLR(optimizer, [max(1, epochs // 2), max(1, epochs * 3 // 4)]),
        "cosine": lambda: sched.CosineAnnealingLR(optimizer, max(1, epochs - config["warmup_epochs"])),
        "plateau": lambda: sched.ReduceLROnPlateau(optimizer, factor=0.1, patience=2),
        "googlenet": lambda: sched.StepLR(optimizer, 8, 0.96),
        "inception": lambda: sched.StepLR(optimizer, 2, 0.94),
        "none": lambda: None,
    }[kind]()
    if config["warmup_epochs"]:
        # Goyal et al. warm up from the single-process lr to the scaled one.
        start = 1 / world.size if config.get("scale_lr") else 1 / 3
        return sched.LinearWarmup(optimizer, config["warmup_epochs"], after=after, start_factor=start)
    return after
