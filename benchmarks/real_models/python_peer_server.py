#!/usr/bin/env python3
"""The Python peer of seqserve, written as a user would: a KServe v2 gRPC server (the service
tritonclient ships as tritonclient.grpc.service_pb2_grpc) over a ThreadPoolExecutor of 4 workers,
each request run at once through one TorchScript module with torch's default threads: no batching.
Inputs and output are those of the pack's config.pbtxt, so the clients of seqserve drive it as is.

  .venv/bin/python benchmarks/real_models/python_peer_server.py --model build/model_repository/minilm \
      [--port 0] [--port-file FILE]
"""
import argparse
import os
import re
from concurrent import futures

import grpc
import numpy as np
import torch
from tritonclient.grpc import model_config_pb2 as mc, service_pb2 as pb, service_pb2_grpc as pbg


class Peer(pbg.GRPCInferenceServiceServicer):
    def __init__(self, model_dir):
        config = open(os.path.join(model_dir, "config.pbtxt")).read()
        self.name = re.search(r'^name: "([^"]+)"', config, re.M).group(1)
        self.inputs = re.findall(r'input \{ name: "([^"]+)"', config)  # in forward()'s order
        self.output = re.search(r'output \{ name: "([^"]+)"', config).group(1)
        self.module = torch.jit.load(os.path.join(model_dir, "1", "model.pt")).eval()

    def ServerLive(self, request, context):
        return pb.ServerLiveResponse(live=True)

    def ServerReady(self, request, context):
        return pb.ServerReadyResponse(ready=True)

    def ModelReady(self, request, context):
        return pb.ModelReadyResponse(ready=request.name == self.name)

    def ServerMetadata(self, request, context):  # perf_analyzer asks for this and the two below
        return pb.ServerMetadataResponse(name="python-peer", version="1")

    def ModelMetadata(self, request, context):
        tensor = pb.ModelMetadataResponse.TensorMetadata
        return pb.ModelMetadataResponse(
            name=self.name, versions=["1"], platform="pytorch_libtorch",
            inputs=[tensor(name=n, datatype="INT64", shape=[-1, -1]) for n in self.inputs],
            outputs=[tensor(name=self.output, datatype="FP32", shape=[-1, -1])])

    def ModelConfig(self, request, context):
        return pb.ModelConfigResponse(config=mc.ModelConfig(
            name=self.name, platform="pytorch_libtorch", max_batch_size=64,
            input=[mc.ModelInput(name=n, data_type=mc.TYPE_INT64, dims=[-1]) for n in self.inputs],
            output=[mc.ModelOutput(name=self.output, data_type=mc.TYPE_FP32, dims=[-1])]))

    def ModelInfer(self, request, context):
        given = {t.name: torch.from_numpy(np.frombuffer(raw, dtype=np.int64).reshape(tuple(t.shape)).copy())
                 for t, raw in zip(request.inputs, request.raw_input_contents)}
        with torch.inference_mode():
            out = self.module(*(given[n] for n in self.inputs)).float().numpy()
        return pb.ModelInferResponse(
            model_name=self.name, model_version="1", id=request.id,
            outputs=[pb.ModelInferResponse.InferOutputTensor(name=self.output, datatype="FP32", shape=out.shape)],
            raw_output_contents=[out.tobytes()])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a pack's folder: config.pbtxt and 1/model.pt")
    parser.add_argument("--port", type=int, default=0, help="0: an ephemeral port")
    parser.add_argument("--port-file", help="where to write grpc_port=N once listening")
    args = parser.parse_args()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4),
                         options=[("grpc.max_receive_message_length", 64 << 20)])
    pbg.add_GRPCInferenceServiceServicer_to_server(Peer(args.model), server)
    port = server.add_insecure_port(f"127.0.0.1:{args.port}")
    server.start()
    print(f"grpc_port={port}", flush=True)
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(f"grpc_port={port}\n")
        os.replace(args.port_file + ".tmp", args.port_file)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
