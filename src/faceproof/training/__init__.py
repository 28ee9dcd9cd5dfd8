"""The training stage: how faceproof's learned models are made, from data to shipped ONNX + model card.

corpus (which public images, with licences and hashes) -> augment (the everyday damage, shared with evaluation)
-> manipulate (self-blends, swaps, replays made from real photos) -> fit -> export (ONNX + card, read by
:mod:`faceproof.models.artifact`). The service never imports this package at run time except for the damage
functions that evaluation shares; torch is an optional extra needed only to fine-tune a backbone.
"""
