#!/usr/bin/env python3
"""Sentence embeddings from seqserve: tokenize with the checkpoint's own tokenizer (`tokenizers`),
send one request per sentence with Triton's client (`tritonclient`), print cosine similarities.

  python scripts/examples/embed.py --url 127.0.0.1:8001 --model minilm \
      --tokenizer build/checkpoints/all-MiniLM-L6-v2/tokenizer.json "A sentence." "Another one."
"""
import argparse

import numpy as np
import tritonclient.grpc as grpcclient
from tokenizers import Tokenizer


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="127.0.0.1:8001")
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--tokenizer", required=True, help="the checkpoint's tokenizer.json")
    parser.add_argument("--max-length", type=int, default=256, help="the model's sequence.max_length")
    parser.add_argument("sentences", nargs="+")
    args = parser.parse_args()

    tokenizer = Tokenizer.from_file(args.tokenizer)
    tokenizer.no_padding()  # the server pads each batch to its longest member itself
    tokenizer.enable_truncation(args.max_length)
    client = grpcclient.InferenceServerClient(url=args.url)
    inputs_of_model = [i["name"] for i in client.get_model_metadata(args.model, as_json=True)["inputs"]]

    embeddings = []
    for encoding in tokenizer.encode_batch(args.sentences):
        fields = {"input_ids": encoding.ids, "attention_mask": encoding.attention_mask,
                  "token_type_ids": encoding.type_ids}
        inputs = []
        for name in inputs_of_model:
            array = np.array([fields[name]], dtype=np.int64)  # one row: [1, tokens]
            inputs.append(grpcclient.InferInput(name, list(array.shape), "INT64"))
            inputs[-1].set_data_from_numpy(array)
        embeddings.append(client.infer(args.model, inputs).as_numpy("embedding")[0])

    e = np.stack(embeddings)
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    similarity = e @ e.T
    for i, a in enumerate(args.sentences):
        for j in range(i + 1, len(args.sentences)):
            print(f"{similarity[i, j]:.4f}  {a!r} ~ {args.sentences[j]!r}")


if __name__ == "__main__":
    main()
