"""Training helpers of `train_sft.py`: freezing and saving that work under DDP, DeepSpeed ZeRO-3 and FSDP, the
frozen-tower feature cache, and the connector's data-dependent initialisation."""
