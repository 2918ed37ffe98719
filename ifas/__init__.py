"""The ifas package: everything of I-FAS that is not a Hub remote-code file (those stay at the repository root,
`*_ifas.py`, and import nothing from here).

- `ifas.cli`: the ``ifas`` command (``ifas predict``, ``adapt``, ``evaluate``, ``build``, ``demo``; ``python -m ifas``);
- `ifas.evaluation`: scores, tables, plots, explanations and calibration of a checkpoint (``ifas evaluate``);
- `ifas.fas_metrics`: FAS metrics, also a local `evaluate` module (``evaluate.load("<path>/ifas/fas_metrics")``);
- `ifas.reporting`: results document, tables, plots, model card, heat-map grids;
- `ifas.model_builders`: I-FAS models from backbones or a pretrained VLM, tiny test models, checkpoint saving;
- `ifas.train`: the training collator and data checks (`ifas.train.sft_data`) and the helpers of `train_sft.py`;
- `ifas.infer`: checkpoint loading with validation, CPU speed-ups;
- `ifas.demo`: the offline demo (``ifas demo``), its pretrained backbones and its binary baseline.
"""
