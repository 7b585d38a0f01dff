"""The progress bar of the command-line tools: tqdm when wanted, a silent stand-in otherwise."""

__all__ = ["progress_bar"]


class _Silent:
    def update(self, n=1):
        pass

    def set_postfix(self, **kwargs):
        pass

    def close(self):
        pass


def progress_bar(total, desc, enabled=True, unit="batch"):
    """A tqdm bar over ``total`` batches (or bytes: ``unit="B"``), or an object with the same methods that
    prints nothing."""
    if not enabled:
        return _Silent()
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, unit=unit, unit_scale=unit == "B", leave=False, dynamic_ncols=True)
