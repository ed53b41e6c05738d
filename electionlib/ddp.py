"""SignSGD with majority vote as a DDP communication hook (``torch.distributed``).

:func:`majority_vote_hook` replaces DDP's all-reduce of each gradient bucket by signSGD with
majority vote (Bernstein et al. 2019; the uncoded scheme of the election-coding paper): every
rank packs the signs of its bucket, 1 bit a coordinate, the ranks exchange the packed signs
with ``all_gather``, and every rank takes the same coordinate-wise majority. The bucket then
holds +1 / -1 (0 where an even number of ranks is tied: that coordinate does not move), so a
plain ``torch.optim.SGD`` step is a signSGD-MV step (with ``momentum``, momentum on the
voted signs, as the paper's CIFAR-10 runs apply it at the master, Table B.2).

Use::

    model = torch.nn.parallel.DistributedDataParallel(net)
    model.register_comm_hook(MajorityVoteState(), majority_vote_hook)

``sign(0)`` follows ``tie="plus"`` (a zero gradient votes +1, as ``votes.sign_bits`` under
``plus``): a hook has no per-partition random streams to draw the ``coin`` rule's coins
from in step on every rank.

What a hook cannot do, and why the library's own trainers exist:

* **Redundant allocation.** An election code assigns each worker several data partitions and
  the worker votes the majority of their signs; DDP gives every rank exactly one shard and
  one gradient. Coded votes need several partitions per rank, computed by the user's loop
  (:mod:`electionlib.schemes`, ``examples/own_training_loop.py``) or by the ``mpi`` backend.
* **Byzantine peers.** ``all_gather`` trusts every rank to send the same bits to all. A
  Byzantine rank can send different bits to different ranks, so honest ranks may decode
  different updates and their models drift apart; the library's ``mpi`` backend keeps one
  server that decodes once and sends the update to every worker itself.
* **Messages of the wrong size.** ``all_gather`` needs equal tensor sizes on every rank; a
  peer that sends otherwise fails the collective rather than being treated as an
  abstention, as the ``mpi`` server does.
"""

from dataclasses import dataclass, field

import torch
import torch.distributed as dist

__all__ = ["MajorityVoteState", "majority_vote_hook", "pack_signs", "unpack_signs"]

_WEIGHTS = torch.tensor([128, 64, 32, 16, 8, 4, 2, 1], dtype=torch.uint8)


def pack_signs(x: torch.Tensor) -> torch.Tensor:
    """Packed signs of a flat tensor, ``numpy.packbits`` order, zero padding: uint8
    ``(ceil(numel / 8),)``. Bit 1 (+1) for ``x >= 0``; NaN and +-inf count as zeros and so vote
    +1, as in :func:`electionlib.votes.sign_bits` under ``plus``.

    Example:
        >>> pack_signs(torch.tensor([1.0, -2.0, 0.0])).tolist()
        [160]
    """
    x = x.detach().reshape(-1)
    bits = (~((x < 0) & (x > -torch.inf))).to(torch.uint8)
    pad = (-bits.numel()) % 8
    if pad:
        bits = torch.cat([bits, torch.zeros(pad, dtype=torch.uint8, device=bits.device)])
    return (bits.view(-1, 8) * _WEIGHTS.to(bits.device)).sum(dim=1, dtype=torch.uint8)


def unpack_signs(packed: torch.Tensor, numel: int) -> torch.Tensor:
    """Inverse of :func:`pack_signs`: ``(..., numel)`` int8 of +1 / -1.

    Example:
        >>> unpack_signs(pack_signs(torch.tensor([1.0, -2.0, 0.0])), 3).tolist()
        [1, -1, 1]
    """
    shifts = torch.arange(7, -1, -1, dtype=torch.uint8, device=packed.device)
    bits = (packed.unsqueeze(-1) >> shifts) & 1
    bits = bits.reshape(*packed.shape[:-1], -1)[..., :numel]
    return bits.to(torch.int8) * 2 - 1


@dataclass
class MajorityVoteState:
    """State of :func:`majority_vote_hook`.

    Attributes:
        process_group: the group to vote in (None: the default group).
        bytes_sent: payload bytes this rank has sent so far (``ceil(numel / 8)`` a bucket).
        buckets: buckets voted so far.
    """

    process_group: object | None = None
    bytes_sent: int = 0
    buckets: int = 0
    _sizes: list = field(default_factory=list, repr=False)


def majority_vote_hook(state: MajorityVoteState, bucket) -> torch.futures.Future[torch.Tensor]:
    """DDP communication hook: the bucket's gradient becomes the ranks' majority of signs.

    Args:
        state: a :class:`MajorityVoteState`.
        bucket: the ``torch.distributed.GradBucket`` DDP passes.

    Returns:
        a completed ``Future`` holding the voted bucket (the bucket's dtype and shape).
    """
    group = state.process_group
    grad = bucket.buffer()
    numel = grad.numel()
    packed = pack_signs(grad)
    world = dist.get_world_size(group)
    gathered = [torch.empty_like(packed) for _ in range(world)]
    dist.all_gather(gathered, packed, group=group)
    signs = unpack_signs(torch.stack(gathered), numel).to(torch.int32)
    count = signs.sum(dim=0)  # (+1 votes) - (-1 votes)
    voted = torch.sign(count).to(grad.dtype).reshape(grad.shape)
    state.bytes_sent += packed.numel()
    state.buckets += 1
    state._sizes.append(numel)
    fut: torch.futures.Future[torch.Tensor] = torch.futures.Future()
    fut.set_result(voted)
    return fut
