"""Training helpers of `train_sft.py`: the frozen-tower feature cache and the connector's data-dependent init."""
