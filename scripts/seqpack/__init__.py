"""seqserve-pack: packs a Hugging Face encoder checkpoint as a seqserve model-repository entry.

Modules, one concept each:
  cli         arguments, errors and progress lines (imports nothing heavy, so --help is fast)
  source      reading the checkpoint directory: family, task, inputs, pooling, lengths, weights
  precision   --precision: the model cast / quantized, tolerances, accuracy against fp32
  wrappers    the nn.Modules that turn an encoder into the served outputs (embedding / logits)
  export      TorchScript and AOTInductor (.pt2) export, each checked against eager PyTorch
  references  the reference requests the manifest carries, computed with the eager model
  repository  config.pbtxt and seqserve-model.json text, and the atomic move into the repository
  pack        the steps in order
"""
