"""The offline demo on SynthFAS (``ifas demo``, `make demo`): `ifas.demo.run` runs it, `ifas.demo.assets` prepares
the pretrained backbones, `ifas.demo.baseline` is the binary classifier it is compared with."""
