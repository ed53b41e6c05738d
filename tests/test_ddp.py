"""The DDP majority-vote hook on 4 CPU processes (gloo): every rank's bucket holds the
coordinate-wise majority of the ranks' signs, packed 1 bit a coordinate."""

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from electionlib import ddp, votes

pytestmark = pytest.mark.ddp


def _free_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


def test_pack_signs_matches_numpy_packbits():
    x = torch.randn(1003, generator=torch.Generator().manual_seed(1))
    x[::7] = 0.0
    x[3], x[10], x[11] = float("nan"), float("inf"), -float("inf")
    bits, _ = votes.sign_bits(x.numpy(), "plus")  # the library's rule: non-finite as zero
    expected = bits
    assert ddp.pack_signs(x).numpy().tolist() == expected.tolist()
    back = ddp.unpack_signs(ddp.pack_signs(x), 1003)
    assert back[3] == back[10] == back[11] == 1
    finite = torch.isfinite(x)
    assert torch.equal(back[finite], torch.where(x >= 0, 1, -1).to(torch.int8)[finite])


@pytest.mark.timeout(300)
def test_majority_vote_hook_on_four_gloo_processes(tmp_path):
    world, port = 4, _free_port()
    worker = Path(__file__).with_name("ddp_worker.py")
    procs = [subprocess.Popen([sys.executable, str(worker), str(r), str(world), port,
                               str(tmp_path / f"rank{r}.json")],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for r in range(world)]
    logs = [p.communicate(timeout=240)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(logs)
    res = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(world)]
    for steps in res:
        for r in steps:
            assert r["equal"], r  # the bucket is the majority of the 4 local gradients' signs
            assert r["same_model_everywhere"] and r["step_is_lr_times_vote"]
            assert set(r["values"]) <= {-1.0, 0.0, 1.0}
            assert sum(r["bucket_sizes"]) == r["numel"]
            assert r["bytes_sent"] == sum(-(-s // 8) for s in r["bucket_sizes"])  # 1 bit each
        assert steps[1]["buckets"] >= 2  # the rebuilt, tiny-capped buckets are voted one by one
    # with 4 ranks some coordinates tie 2-2; those must not move (value 0)
    assert any(r["ties"] > 0 and 0.0 in r["values"] for r in res[0])
