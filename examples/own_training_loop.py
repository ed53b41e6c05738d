"""Election-coded SignSGD in your own PyTorch loop: no TrainConfig, no trainer.

A small MLP on scikit-learn's digits, 15 workers, a Bernoulli code with E[r] = 3 (every
worker holds about 3 of the 15 data partitions; rows redrawn until none is empty), and 5
Byzantine workers that reverse their votes. The scheme object encodes each worker's vote
from the gradients of its partitions and decodes the majority; `step_optimizer` writes the
voted update into `.grad` and steps a plain torch optimizer.

    python examples/own_training_loop.py
"""

import numpy as np
import torch
from sklearn.datasets import load_digits

from electionlib import codes, schemes

torch.manual_seed(0)
n, b, k, batch = 15, 5, 15, 16
x, y = load_digits(return_X_y=True)
x = torch.tensor(x / 16.0, dtype=torch.float32)
y = torch.tensor(y)
perm = torch.randperm(len(y))
train, test = perm[:1400], perm[1400:]
parts = torch.tensor_split(train, k)  # partition j: its own examples

rng = np.random.default_rng(0)
byzantine = rng.choice(n, size=b, replace=False)


def train(G) -> float:
    """300 steps of coded SignSGD (allocation G) under the reverse attack: test accuracy."""
    torch.manual_seed(1)  # the same initial model for every allocation
    net = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    params = list(net.parameters())
    vote = schemes.ElectionVote(G, sum(p.numel() for p in params), tie="coin", seed=0)
    opt = torch.optim.SGD(params, lr=0.01, momentum=0.9)
    attack_rng = np.random.default_rng(1)
    for _ in range(300):
        rows = []  # (k, d): one mini-batch gradient per data partition, flattened
        for idx in parts:
            pick = idx[torch.randint(len(idx), (batch,))]
            loss = torch.nn.functional.cross_entropy(net(x[pick]), y[pick])
            rows.append(torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, params)]))
        schemes.step_optimizer(vote, opt, torch.stack(rows), byzantine=byzantine,
                               attack="reverse", rng=attack_rng)
    with torch.no_grad():
        return (net(x[test]).argmax(1) == y[test]).float().mean().item()


G = codes.bernoulli(n, 3 / n, k=k, rng=rng, empty_rows="redraw")
print(f"n={n} workers, b={b} reversing their votes, 1 bit a coordinate")
print(f"  uncoded SignSGD-MV:           test accuracy {train(codes.uncoded(n)):.3f}")
print(f"  Bernoulli code E[r]=3 (r={codes.redundancy(G):.2f}): test accuracy {train(G):.3f}")
