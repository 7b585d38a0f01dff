"""A run's data: the training images, the validation images held out of them, the test images,
each behind its DataLoader, and the facts the run records about them (classes, sizes, counts)."""
from dataclasses import dataclass

from minicnn import distributed, recipes
from minicnn.data import DataLoader, load_dataset
from minicnn.train import holdout
from minicnn.train.errors import TrainError

__all__ = ["Data", "build_loaders", "loaders_for"]


@dataclass
class Data:
    train_loader: DataLoader
    val_loader: DataLoader
    test_loader: DataLoader
    facts: dict         # what config.json records: input_size, image_size, classes, *_images


def build_loaders(config, device="cpu", world=distributed.SINGLE_PROCESS):
    """The datasets ``config`` names (--dataset, --data-dir, --subset, --val-split), read from disk."""
    train, test = (load_dataset(config["dataset"], split, config["data_dir"]) for split in ("train", "test"))
    if config["subset"]:
        train, test = train.subset(config["subset"]), test.subset(config["subset"])
    return loaders_for(train, test, config, device, world)


def loaders_for(train, test, config, device="cpu", world=distributed.SINGLE_PROCESS):
    """Loaders over in-memory ArrayDatasets: validation held out of ``train`` (from --seed), each
    image resized to the architecture's input size, augmented as the recipe says for training."""
    train, val = holdout.split(train, holdout.validation_size(len(train), config.get("val_split")), config["seed"])
    channels, image_size = train.images.shape[1], train.images.shape[2]
    size = recipes.input_size(config["arch"], image_size)
    flip = not config["no_flip"] and config["dataset"] not in ("mnist",)

    def loader(dataset, is_train, shard=True):
        augment = is_train and config["augment"]
        transform = recipes.make_transform(config["dataset"], channels, size, image_size, augment, flip)
        return DataLoader(dataset, config["batch_size"], shuffle=is_train, drop_last=is_train, transform=transform,
                          seed=config["seed"], device=device, prefetch=config["workers"],
                          **(dict(rank=world.rank, world_size=world.size) if shard else {}))

    # Rank 0 alone scores the test set, once, at the end: no collective, no shard.
    data = Data(loader(train, True), loader(val, False), loader(test, False, shard=False),
                dict(input_size=[channels, size, size], image_size=image_size, classes=train.classes,
                     train_images=len(train), val_images=len(val), test_images=len(test)))
    if len(data.train_loader) == 0:
        raise TrainError(f"--batch-size {config['batch_size']} x {world.size} rank(s) is larger than the "
                         f"{len(train)} training images left after holding out {len(val)} for validation")
    return data
