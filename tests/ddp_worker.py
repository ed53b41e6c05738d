"""One rank of the DDP majority-vote hook test: python ddp_worker.py RANK WORLD PORT OUT."""

import json
import os
import sys

import torch
import torch.distributed as dist

from electionlib import ddp


def main() -> None:
    rank, world, port, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.manual_seed(0)  # the same initial model on every rank
    net = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.ReLU(), torch.nn.Linear(7, 3))
    gen = torch.Generator().manual_seed(100 + rank)  # each rank its own data
    model = torch.nn.parallel.DistributedDataParallel(net, bucket_cap_mb=0.0001)
    state = ddp.MajorityVoteState()
    model.register_comm_hook(state, ddp.majority_vote_hook)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    steps = []
    for _ in range(2):  # DDP rebuilds its buckets (here: several) after the first step
        x, y = torch.randn(16, 5, generator=gen), torch.randint(0, 3, (16,), generator=gen)
        # this rank's plain local gradient, and every rank's, for the expected vote
        loss = torch.nn.functional.cross_entropy(net(x), y)
        local = torch.autograd.grad(loss, list(net.parameters()))
        flat = torch.cat([g.reshape(-1) for g in local])
        everyone = [torch.empty_like(flat) for _ in range(world)]
        dist.all_gather(everyone, flat)
        votes = torch.stack([torch.where(g >= 0, 1, -1) for g in everyone]).sum(0)
        expected = torch.sign(votes).float()
        start = torch.cat([p.detach().reshape(-1) for p in net.parameters()])
        sent, n_buckets, n_sizes = state.bytes_sent, state.buckets, len(state._sizes)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        got = torch.cat([p.grad.reshape(-1) for p in net.parameters()])
        opt.step()
        after = torch.cat([p.detach().reshape(-1) for p in net.parameters()])
        finals = [torch.empty_like(after) for _ in range(world)]
        dist.all_gather(finals, after)
        steps.append({"equal": bool(torch.equal(got, expected)),
                      "values": sorted(set(got.tolist())),
                      "ties": int((votes == 0).sum()),
                      "same_model_everywhere": all(torch.equal(f, after) for f in finals),
                      "step_is_lr_times_vote": bool(torch.allclose(start - 0.1 * expected,
                                                                   after)),
                      "bytes_sent": state.bytes_sent - sent,
                      "buckets": state.buckets - n_buckets,
                      "bucket_sizes": state._sizes[n_sizes:], "numel": flat.numel()})
    with open(out, "w") as fh:
        json.dump(steps, fh)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
