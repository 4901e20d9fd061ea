"""The tabular network's training function, one process per rank, under `torchrun`:

    python -m torch.distributed.run --standalone --nproc-per-node 2 -m cnai.models.torch_ddp WORKDIR

`WORKDIR` holds what the estimator's `fit` wrote: `data.npz` (encoded categories, scaled numbers,
targets) and `spec.json` (the network's shape and hyperparameters). Every rank builds the same
network from the seed, wraps it in DistributedDataParallel (gloo on CPU, NCCL when each rank has a
GPU) and trains on its shard of the rows (DistributedSampler); gradients are averaged across ranks
at every step, so the ranks' parameters stay equal. After each epoch every rank scores the same
validation rows, rank 0 records the epoch (`history.jsonl`) and a checkpoint (`checkpoint.pt`),
and rank 0's decision to stop early (no better validation loss for `patience` epochs) is broadcast
so all ranks stop together. Rank 0 writes the best epoch's weights (`best.pt`); each rank writes
`rank-<r>.json` with the rows it trained on and a digest of its final parameters.

On a cluster the same function runs in each node of a Kubeflow Trainer TrainJob on the
`torch-distributed` runtime, which sets the same environment torchrun does.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np


def network(spec: dict):
    from cnai.models.tabular_network import TabularNetwork

    return TabularNetwork(spec["cardinalities"], spec["numeric"], spec["outputs"], spec["hidden_units"],
                          spec["layers"], spec["dropout"], spec["embedding_dim"])


def loss_function(task: str):
    import torch

    if task == "binary":
        return lambda logits, y: torch.nn.functional.binary_cross_entropy_with_logits(logits[:, 0], y.float())
    if task == "multiclass":
        return lambda logits, y: torch.nn.functional.cross_entropy(logits, y.long())
    return lambda output, y: torch.nn.functional.mse_loss(output[:, 0], y.float())


def parameter_digest(model) -> str:
    digest = hashlib.sha256()
    for tensor in model.state_dict().values():
        digest.update(tensor.detach().cpu().numpy().tobytes())
    return digest.hexdigest()


def train(workdir: Path) -> list[dict]:
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel
    from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

    gpu = torch.cuda.is_available() and torch.cuda.device_count() >= int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    dist.init_process_group("nccl" if gpu else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if gpu else "cpu")
    spec = json.loads((workdir / "spec.json").read_text())
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", "1"))))
    torch.manual_seed(spec["seed"])
    arrays = np.load(workdir / "data.npz")
    categorical, numeric, target = (torch.from_numpy(arrays[k]) for k in ("categorical", "numeric", "target"))
    # The same seeded validation rows on every rank: the early-stopping decision needs one answer.
    order = np.random.default_rng(spec["seed"]).permutation(len(target))
    held = max(1, int(len(order) * spec["validation_fraction"]))
    valid_rows, fit_rows = torch.from_numpy(order[:held]), torch.from_numpy(order[held:])
    fit = TensorDataset(categorical[fit_rows], numeric[fit_rows], target[fit_rows])
    sampler = DistributedSampler(fit, num_replicas=world, rank=rank, shuffle=True, seed=spec["seed"])
    loader = DataLoader(fit, batch_size=spec["batch_size"], sampler=sampler)

    model = network(spec).to(device)
    ddp = DistributedDataParallel(model, device_ids=[device.index] if gpu else None)
    optimizer = torch.optim.Adam(ddp.parameters(), lr=spec["learning_rate"], weight_decay=spec["weight_decay"])
    loss_of = loss_function(spec["task"])
    best, best_epoch, waited, samples = float("inf"), -1, 0, 0
    history = workdir / "history.jsonl"
    for epoch in range(spec["max_epochs"]):
        started = time.perf_counter()
        sampler.set_epoch(epoch)
        ddp.train()
        total, seen = torch.zeros(2), 0
        for cats, nums, y in loader:
            optimizer.zero_grad()
            loss = loss_of(ddp(cats.to(device), nums.to(device)), y.to(device))
            loss.backward()  # DDP averages the gradients of every rank here
            optimizer.step()
            total += torch.tensor([loss.item() * len(y), len(y)])
            seen += len(y)
        samples += seen
        dist.all_reduce(total)  # the epoch's loss over every rank's rows
        model.eval()
        with torch.no_grad():
            valid_loss = float(loss_of(model(categorical[valid_rows].to(device), numeric[valid_rows].to(device)),
                                       target[valid_rows].to(device)))
        seconds = time.perf_counter() - started
        improved = valid_loss < best - 1e-7
        if improved:
            best, best_epoch, waited = valid_loss, epoch, 0
        else:
            waited += 1
        stop = torch.tensor([int(waited >= spec["patience"])])
        if rank == 0:
            if improved:
                torch.save(model.state_dict(), workdir / "best.pt")
            torch.save({"epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict()},
                       workdir / "checkpoint.pt")
            with history.open("a") as out:
                out.write(json.dumps({"epoch": epoch, "train_loss": float(total[0] / total[1]), "valid_loss": valid_loss,
                                      "seconds": round(seconds, 4), "samples": int(total[1]),
                                      "samples_per_s": round(float(total[1]) / seconds, 1), "improved": improved}) + "\n")
        dist.broadcast(stop, src=0)
        if bool(stop.item()):
            break
    dist.barrier()
    record = {"rank": rank, "world_size": world, "samples": samples, "parameters": parameter_digest(model),
              "best_epoch": best_epoch, "backend": dist.get_backend()}
    records: list = [None] * world
    dist.all_gather_object(records, record)
    # Across nodes each rank has its own WORKDIR: rank 0's best weights and history reach every rank.
    shared = [(workdir / "best.pt").read_bytes(), history.read_text()] if rank == 0 else [None, None]
    dist.broadcast_object_list(shared, src=0)
    if rank != 0 and not (workdir / "best.pt").exists():
        (workdir / "best.pt").write_bytes(shared[0])
        history.write_text(shared[1])
    (workdir / f"rank-{rank}.json").write_text(json.dumps(record))
    dist.destroy_process_group()
    return records


if __name__ == "__main__":
    train(Path(sys.argv[1]))
