#!/usr/bin/env python3
"""Writes random-weight Hugging Face checkpoints for packer and server tests.

Usage: make_checkpoints.py OUT_DIR [NAME ...]      (default: all of them)

  OUT_DIR/bert_base_classifier   BertForSequenceClassification, BERT-base size (hidden 768, 12 layers,
                                 12 heads, intermediate 3072, vocab 30522), 3 labels
  OUT_DIR/distilbert_embedding   DistilBertModel (dim 256, 2 layers, 4 heads, hidden_dim 1024, vocab 30522)
  OUT_DIR/roberta_small          RobertaModel (hidden 256, 2 layers, 4 heads, intermediate 1024, vocab
                                 50265, 514 positions, pad id 1)

Each is config.json + model.safetensors from `save_pretrained`, weights from a fixed seed (so two
runs give the same files); no tokenizer. A checkpoint already there and complete is left alone;
each is written to a dot-folder first and renamed, so a present one is complete.
"""
import os
import shutil
import sys
import tempfile

SEED = 0


def _bert_base_classifier():
    from transformers import BertConfig, BertForSequenceClassification
    config = BertConfig(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                        intermediate_size=3072, max_position_embeddings=512, type_vocab_size=2, num_labels=3,
                        id2label={0: "negative", 1: "neutral", 2: "positive"},
                        label2id={"negative": 0, "neutral": 1, "positive": 2})
    return BertForSequenceClassification(config)


def _distilbert_embedding():
    from transformers import DistilBertConfig, DistilBertModel
    config = DistilBertConfig(vocab_size=30522, dim=256, n_layers=2, n_heads=4, hidden_dim=1024,
                              max_position_embeddings=512)
    return DistilBertModel(config)


def _roberta_small():
    from transformers import RobertaConfig, RobertaModel
    config = RobertaConfig(vocab_size=50265, hidden_size=256, num_hidden_layers=2, num_attention_heads=4,
                           intermediate_size=1024, max_position_embeddings=514, type_vocab_size=1,
                           pad_token_id=1, bos_token_id=0, eos_token_id=2)
    return RobertaModel(config, add_pooling_layer=False)


CHECKPOINTS = {
    "bert_base_classifier": _bert_base_classifier,
    "distilbert_embedding": _distilbert_embedding,
    "roberta_small": _roberta_small,
}


def complete(path):
    return all(os.path.isfile(os.path.join(path, f)) for f in ("config.json", "model.safetensors"))


def save(model, path):
    """save_pretrained (safetensors) into a dot-folder beside `path`, then rename it to `path`."""
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}-", dir=parent)
    try:
        model.save_pretrained(staging, safe_serialization=True)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(staging, 0o777 & ~umask)  # mkdtemp makes it private
        for f in os.listdir(staging):
            os.chmod(os.path.join(staging, f), 0o666 & ~umask)
        if os.path.isdir(path):
            shutil.rmtree(path)  # incomplete leftover of something else
        os.rename(staging, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write(out_dir, name):
    """Writes OUT_DIR/name unless it is already complete; returns its path."""
    path = os.path.join(out_dir, name)
    if complete(path):
        return path
    import torch
    torch.manual_seed(SEED)
    save(CHECKPOINTS[name]().eval(), path)
    return path


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    names = argv[2:] or list(CHECKPOINTS)
    unknown = [n for n in names if n not in CHECKPOINTS]
    if unknown:
        print(f"make_checkpoints.py: unknown checkpoint {unknown[0]} (known: {', '.join(CHECKPOINTS)})",
              file=sys.stderr)
        return 2
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers.utils import logging
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    for name in names:
        was = complete(os.path.join(argv[1], name))
        path = write(argv[1], name)
        print(f"{path}: {'already there' if was else 'written'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
