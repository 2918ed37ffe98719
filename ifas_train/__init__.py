"""Training helpers of `train_sft.py` that must work under DDP, DeepSpeed ZeRO-3 and FSDP: freezing and saving."""
