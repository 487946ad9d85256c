"""data: the datasets a run trains and scores on, as tensors split into train, val and test. What this ``__all__``
names is public; the other names of the folder are internal."""

from seknet.data.digits import load_digits
from seknet.data.load import load_data, recal_batches, run_data
from seknet.data.split import Data, Split

__all__ = ["Data", "Split", "load_data", "load_digits", "recal_batches", "run_data"]
