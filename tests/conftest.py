import pytest

def pytest_collection_modifyitems(config, items):
    "Skip tests marked `gpu` where torch sees no CUDA device."
    try:
        import torch
        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    if has_cuda: return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords: item.add_marker(skip)
