"""Texts and tokenizers for checking and timing seqserve's tokenizer against Hugging Face
`tokenizers`: corpus.py (varied texts), families.py (one tokenizer.json per supported family),
bench.py (tokens per second, one thread, both tokenizers on the same texts)."""
