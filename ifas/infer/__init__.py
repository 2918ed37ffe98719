"""Inference helpers that are not part of the Hub-repo model files: CPU speed-ups."""
