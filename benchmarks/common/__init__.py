"""Pieces the Python benchmarks (and a few tests) share, each in one place: the real sentences
and the client-side tokenizer (sentences), the Python peer server (peer_server). The machine
description is scripts/machine_info.py, the load runner benchmarks/loadgen.py, the seqserve
process scripts/seqserve_process.py. Importable from .venv's Python as `common` (Note [the tree
on the path], scripts/install_deps.sh); benchmarks/common/*.cc are the C++ benchmarks' shared
workload."""
