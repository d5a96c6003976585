"""Two processes started by torchrun (gloo, CPU) train one model: the same weights as one process with the same global batch."""
import os
import socket
import subprocess
import sys
import textwrap

import pytest
import torch

from course_lib.train import TrainConfig, fit

SCRIPT = textwrap.dedent('''
    import os, sys, torch
    from torch import nn
    from course_lib.train import TrainConfig, fit

    class Net(nn.Module):                       # no BatchNorm, no dropout: DDP must equal one big batch
        output_stride = 2
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, stride=2, padding=1),
                                      nn.ReLU(), nn.Conv2d(8, 1, 1))
            self.config = {"name": "ddp_test_net"}
        def forward(self, x):
            return nn.functional.softplus(self.body(x)) + 0.1

    class Toy(torch.utils.data.Dataset):        # deterministic items: image i and its depth
        def __init__(self, n):
            self.n = n
        def __len__(self):
            return self.n
        def __getitem__(self, i):
            g = torch.Generator().manual_seed(i)
            image = torch.rand(3, 12, 16, generator=g)
            depth = 1.0 + 2.0 * image[:1]
            return {"image": image, "depth": depth, "valid": depth > 0, "K": torch.eye(3)}

    def run(out_dir, batch_size):
        torch.manual_seed(0)
        model = Net()
        config = TrainConfig(steps=6, batch_size=batch_size, lr=1e-2, val_every=3, log_every=1, progress=False,
                             out_dir=out_dir, device="cpu", seed=5, checkpoint_every=3,
                             amp="off")   # float32: two processes' sums round alike, bf16 ones do not
        history = fit(model, Toy(24), Toy(5), None, config)
        return model, history

    if __name__ == "__main__":
        model, history = run(sys.argv[1], int(sys.argv[2]))
        torch.save({"model": model.state_dict(), "history": history}, os.path.join(sys.argv[1], f"rank{os.environ.get('RANK', 0)}.pt"))
''')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env():
    env = dict(os.environ, OMP_NUM_THREADS="1")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_two_processes_match_one_process_with_the_same_global_batch(tmp_path):
    script = tmp_path / "ddp_script.py"
    script.write_text(SCRIPT)
    ddp_dir, single_dir = tmp_path / "ddp", tmp_path / "single"
    ddp_dir.mkdir()
    single_dir.mkdir()
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
           f"--master_port={_free_port()}", str(script), str(ddp_dir), "2"]
    done = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    # the same script, one process, batch 4 = 2 processes x 2
    done = subprocess.run([sys.executable, str(script), str(single_dir), "4"], env=_env(), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-4000:]

    rank0, rank1 = (torch.load(ddp_dir / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    single = torch.load(single_dir / "rank0.pt", weights_only=True)
    for key in rank0["model"]:
        assert torch.equal(rank0["model"][key], rank1["model"][key]), f"ranks disagree on {key}"
        assert torch.allclose(rank0["model"][key], single["model"][key], rtol=1e-4, atol=1e-5), key
    # the training loss and the validation metrics (5 images split 3 + 2, summed across ranks) agree too
    assert rank0["history"]["loss"] == pytest.approx(single["history"]["loss"], rel=1e-4)
    assert rank0["history"]["val_abs_rel"] == pytest.approx(single["history"]["val_abs_rel"], rel=1e-4)
    assert rank0["history"]["val_abs_rel"] == rank1["history"]["val_abs_rel"]
    # only rank 0 writes the checkpoint, and it holds the plain model's keys
    ckpt = torch.load(ddp_dir / "last.pt", weights_only=True)
    assert set(ckpt["model"]) == set(single["model"]) and ckpt["step"] == 6
    assert len(ckpt["rng_by_rank"]) == 2


@pytest.mark.cuda
def test_ddp_on_one_gpu(tmp_path):
    """torchrun with one process on a GPU: NCCL process group, DDP wrapper, checkpoint without 'module.'."""
    script = tmp_path / "ddp_script.py"
    script.write_text(SCRIPT.replace('device="cpu"', 'device="cuda"'))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=1", "--master_addr=127.0.0.1",
           f"--master_port={_free_port()}", str(script), str(tmp_path), "4"]
    done = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    ckpt = torch.load(tmp_path / "last.pt", weights_only=True)
    assert not any(k.startswith("module.") for k in ckpt["model"]) and ckpt["step"] == 6
