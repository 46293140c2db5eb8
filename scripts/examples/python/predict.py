"""The gateway's InferenceService from Python with Debian's grpcio: health, ListModels, Predict and
StreamPredict (stubs from gen.sh in STUBS, default build/python-stubs).

    bash scripts/examples/python/gen.sh build/python-stubs
    python3 scripts/examples/python/predict.py localhost:50051 "In the beginning"
"""
import json
import os
import sys

import grpc

sys.path.insert(0, os.environ.get("STUBS", "build/python-stubs"))
from grpc_health_v1 import health_pb2, health_pb2_grpc  # noqa: E402
from tokenmesh.common.v1 import common_pb2  # noqa: E402
from tokenmesh.inference.v1 import inference_pb2, inference_pb2_grpc  # noqa: E402


def main(target: str, prompt: str) -> None:
    with grpc.insecure_channel(target) as channel:
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
        api = inference_pb2_grpc.InferenceServiceStub(channel)
        models = api.ListModels(inference_pb2.ListModelsRequest(), timeout=10)
        sampling = common_pb2.SamplingParams(max_tokens=16, temperature=0)
        whole = api.Predict(inference_pb2.PredictRequest(prompt=prompt, sampling=sampling), timeout=30)
        chunks = [m.text for m in api.StreamPredict(inference_pb2.StreamPredictRequest(prompt=prompt, sampling=sampling), timeout=30)]
        try:
            api.Predict(inference_pb2.PredictRequest(prompt=""), timeout=10)
            refused = None
        except grpc.RpcError as err:
            refused = {"code": err.code().name, "details": err.details()}
        print(json.dumps({
            "health": health_pb2.HealthCheckResponse.ServingStatus.Name(health.status),
            "models": [m.name for m in models.models],
            "text": whole.text,
            "model": whole.model,
            "completion_tokens": whole.usage.completion_tokens,
            "streamed": "".join(chunks),
            "refused": refused,
        }))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "In the beginning")
