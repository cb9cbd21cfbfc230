"""The modules that are exported: a transformers encoder plus what turns its output into the served
tensor, with a forward that takes exactly the config's inputs, positionally, in config order.

  embedding       [B, H] FP32: masked mean of the last hidden state over attention_mask == 1 (as
                  sentence-transformers' Pooling computes it) or its first token, then optionally
                  L2-normalized (sentence-transformers' Normalize).
  classification  [B, num_labels] FP32: the logits of a *ForSequenceClassification model.

A model cast to bfloat16 / float16 (--precision) computes the encoder in that type; its output is
cast to float32 first, so pooling and normalization run in float32 and the outputs stay FP32.
"""
import torch
import torch.nn.functional as F
from torch import nn


class _Head(nn.Module):
    def __init__(self, model, task, pooling, normalize):
        super().__init__()
        self.model = model
        self.task = task
        self.pooling = pooling
        self.normalize = normalize

    def compute(self, input_ids, attention_mask, token_type_ids=None):
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        out = self.model(**kwargs)[0]  # last_hidden_state, or logits for a classifier
        if out.dtype != torch.float32:  # a bf16 / fp16 model (decided when traced: no op for fp32)
            out = out.float()
        if self.task != "embedding":  # classification and rerank: the head's logits
            return out
        if self.pooling == "cls":
            emb = out[:, 0]
        else:
            mask = attention_mask.unsqueeze(-1).to(out.dtype)
            emb = (out * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        if self.normalize:
            emb = F.normalize(emb, p=2.0, dim=1)
        return emb


class WithTokenTypes(_Head):
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor):
        return self.compute(input_ids, attention_mask, token_type_ids)


class WithoutTokenTypes(_Head):
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        return self.compute(input_ids, attention_mask)


def wrap(loaded, source):
    """The eager module to export for this source and loaded model."""
    cls = WithTokenTypes if "token_type_ids" in loaded.input_names else WithoutTokenTypes
    return cls(loaded.model, source.task, source.pooling, source.normalize).eval()


OUTPUT_NAMES = {"embedding": "embedding", "classification": "logits", "rerank": "logits"}
