"""Building blocks of SynthFAS (see `datasets_scripts.synthfas`): face sources, lighting, capture domains,
print / screen-replay / paper-mask attack renderers and the camera model that re-captures every scene.

All renderers work in linear light (float32 RGB, 1.0 = diffuse white under the room light) and return a
radiance image at the camera's sensor resolution; `capture.capture` turns it into the JPEG a device would save.
"""
