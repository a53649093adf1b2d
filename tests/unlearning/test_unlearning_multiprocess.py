"""The multi-process path: two processes under `accelerate launch` give the one-process result.

`accelerate launch --cpu --num_processes 2` starts CPU workers through `mpirun` (Intel MPI or
Open MPI), which this machine and CI do not have; `accelerate launch --multi_gpu` starts them
through torch.distributed.run (what it does on GPUs), and on a machine without CUDA the loop's
Accelerator(cpu=True) joins them as a multi-CPU (gloo) group: the same DDP code path.
"""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

JOB = Path(__file__).with_name("accelerate_job.py")
REPO = Path(__file__).resolve().parents[2]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict:
    return dict(
        os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO), TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS="1"
    )


@pytest.mark.parametrize("method", ["ga_kl"])
def test_two_processes_match_one(tiny_tokenizer_dir, tmp_path, method):
    from tests.helpers import build_tiny_model_dir

    model_dir = build_tiny_model_dir("llama", tiny_tokenizer_dir, tmp_path / "llama")
    one, two = tmp_path / "one.safetensors", tmp_path / "two.safetensors"
    p = subprocess.run(
        [sys.executable, str(JOB), str(model_dir), str(one), method], capture_output=True, text=True, env=_env()
    )
    assert p.returncode == 0, p.stderr[-3000:]
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    launch += [
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        str(_port()),
    ]
    p = subprocess.run(
        [*launch, str(JOB), str(model_dir), str(two), method], capture_output=True, text=True, env=_env()
    )
    assert p.returncode == 0, p.stderr[-3000:]
    assert "processes=2" in p.stdout, p.stdout
    a, b = load_file(str(one)), load_file(str(two))
    start = load_file(str(next(Path(model_dir).glob("*.safetensors"))))
    moved = max(float((a[k] - start[k]).abs().max()) for k in a if k in start)
    assert moved > 1e-3  # training changed the weights...
    diff = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert diff < 1e-5, f"two processes differ from one by {diff} (weights moved by {moved})"
    assert all(torch.isfinite(v).all() for v in b.values())
