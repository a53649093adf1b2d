"""One small unlearning run, for `accelerate launch` (tests/unlearning/test_unlearning_multiprocess.py).

    python tests/unlearning/accelerate_job.py MODEL_DIR OUT.safetensors METHOD
    accelerate launch --cpu --num_processes 2 tests/unlearning/accelerate_job.py MODEL_DIR OUT.safetensors METHOD

Every process loads the same tiny model and data; each takes its share of every global batch
(DDP averages the gradients), and the main process saves the trained weights.
"""

import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from accelerate import PartialState  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

from mechunlearn.models import load_model  # noqa: E402
from mechunlearn.training.data import UnlearnData  # noqa: E402
from mechunlearn.training.loop import TrainConfig, train  # noqa: E402
from mechunlearn.unlearning import make_method  # noqa: E402

FORGET = [
    "Harry Potter went to Hogwarts with Ron and Hermione.",
    "Dumbledore was the headmaster; Voldemort was his enemy.",
    "Hermione and Ron looked for Harry Potter at Hogwarts today.",
    "Voldemort feared Dumbledore more than anyone at Hogwarts.",
]
RETAIN = [
    "Frodo carried the One Ring to Mount Doom in Mordor.",
    "The capital of France is Paris, a city on the Seine.",
    "Water boils at one hundred degrees at sea level.",
    "Sherlock Holmes lived at Baker Street with Doctor Watson.",
]


def main() -> None:
    model_dir, out, name = sys.argv[1:4]
    state = PartialState(cpu=not torch.cuda.is_available())
    torch.manual_seed(0)
    model = load_model(model_dir, device="cpu")
    # every row cut to 8 tokens, so each process's share holds as many target tokens as the other's
    data = UnlearnData(model, FORGET, RETAIN, max_len=8, seed=0)
    method = make_method(name, {"steps": 3, "lr": 3e-3, "batch_size": 4})
    params = method.trainable(model) or model.trainable_parameters()
    result = train(model, method, data, TrainConfig.of(method), params)
    if state.is_main_process:
        save_file({k: v.detach().clone() for k, v in model.hf_state_dict().items() if k != "lm_head.weight"}, out)
        print(f"processes={state.num_processes} steps={result.steps} tokens={result.tokens}")


if __name__ == "__main__":
    main()
