"nnnotes.optim under DistributedDataParallel: 2 processes, gloo over loopback; ranks stay identical and equal one process on the global batch."
import datetime, os, socket
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

STEPS, GLOBAL_BATCH, WORLD = 15, 16, 2
CONFIGS = [("GD", dict(lr=0.1)), ("Momentum", dict(lr=0.05)), ("Adagrad", dict(lr=0.1)),
           ("RMSprop", dict(lr=0.01)), ("Adam", dict(lr=0.02))]

def _data():
    gen = torch.Generator().manual_seed(0)
    return torch.randn(GLOBAL_BATCH, 4, generator=gen, dtype=torch.float64), torch.randn(GLOBAL_BATCH, 1, generator=gen, dtype=torch.float64)

def _model():
    torch.manual_seed(1)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).double()

def _train(model, opt_name, kw, X, Y):
    "STEPS steps of mean-squared error on (X, Y); the flat parameters after each step."
    import nnnotes.optim as O
    opt = getattr(O, opt_name)(model.parameters(), **kw)
    out = []
    for _ in range(STEPS):
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(X), Y).backward()
        opt.step()
        out.append(torch.cat([p.detach().reshape(-1) for p in model.parameters()]).clone())
    return torch.stack(out)

def _worker(rank, port, outdir):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD,
                            timeout=datetime.timedelta(seconds=60))
    try:
        X, Y = _data()
        shard = slice(rank * GLOBAL_BATCH // WORLD, (rank + 1) * GLOBAL_BATCH // WORLD)
        res = {}
        for name, kw in CONFIGS:
            ddp = torch.nn.parallel.DistributedDataParallel(_model())   # averages gradients over the ranks
            res[name] = _train(ddp, name, kw, X[shard], Y[shard])
        torch.save(res, os.path.join(outdir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()

def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="torch.distributed with gloo is not available")
def test_ddp_two_ranks_match_single_process(tmp_path):
    ctx = mp.get_context("spawn")
    port = _free_port()
    procs = [ctx.Process(target=_worker, args=(r, port, str(tmp_path))) for r in range(WORLD)]
    for p in procs: p.start()
    for p in procs: p.join(timeout=180)
    alive = [p for p in procs if p.is_alive()]
    for p in alive: p.kill()
    assert not alive, "DDP workers did not finish within 180 s"
    assert all(p.exitcode == 0 for p in procs), f"exit codes {[p.exitcode for p in procs]}"
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in range(WORLD))
    X, Y = _data()
    for name, kw in CONFIGS:
        assert torch.equal(r0[name], r1[name]), f"{name}: ranks differ"                  # every step, bit for bit
        single = _train(_model(), name, kw, X, Y)                                          # one process, global batch
        assert (single[-1] - single[0]).abs().max() > 1e-3, f"{name}: did not move"
        torch.testing.assert_close(r0[name], single, rtol=0, atol=1e-12, msg=f"{name}: DDP differs from one process")
