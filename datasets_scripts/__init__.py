"""Corpus builders, SynthFAS, SCF captioning and protocols for I-FAS; all write the contract in `contract.py`."""
