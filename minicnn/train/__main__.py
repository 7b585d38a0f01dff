from minicnn.train.command import entry_point

entry_point()
