"""Shared fixtures: a private cache folder, a small digits problem and a quickly trained VAE."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
ROOT = Path(__file__).resolve().parents[1]


def load_benchmark(name: str):
    """The module ``benchmarks/<name>.py`` (the scripts are not a package), freshly executed."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """Every test session gets its own generator/data cache (never the user's ~/.cache)."""
    d = tmp_path_factory.mktemp("cache")
    old = os.environ.get("LATENTLAB_CACHE")
    os.environ["LATENTLAB_CACHE"] = str(d)
    yield d
    if old is None:
        os.environ.pop("LATENTLAB_CACHE", None)
    else:
        os.environ["LATENTLAB_CACHE"] = old


@pytest.fixture(scope="session")
def digits():
    from latentlab import load_dataset

    return load_dataset("digits")


@pytest.fixture(scope="session")
def small_digits(digits):
    """400 pool items, 200 test items: enough for every strategy, fast for every test."""
    return digits.subset(n_pool=400, n_test=200, seed=0)


@pytest.fixture(scope="session")
def quick_gen_config():
    from latentlab import GeneratorConfig

    return GeneratorConfig(epochs=1, min_steps=300, batch_size=64)


@pytest.fixture(scope="session")
def vae(small_digits, quick_gen_config):
    from latentlab import get_generator

    return get_generator(small_digits, quick_gen_config, seed=0, progress=False)


@pytest.fixture(scope="session")
def latent(small_digits, vae):
    """The quick VAE's latent space over ``small_digits``' pool."""
    from latentlab import LatentSpace

    return LatentSpace.from_generator(vae, small_digits.x_train)


@pytest.fixture(scope="session")
def shared_data():
    if not (SHARED_DATA / "mnist").is_dir():
        pytest.skip(f"real data sets not found at {SHARED_DATA} (they ship beside the repo as ../shared/data)")
    return SHARED_DATA


# --------------------------------------------------------------------------- widgets
@pytest.fixture(scope="session")
def explorer_settings(request, quick_gen_config):
    """ExplorerState settings on the small digits problem (reuses the session's quick VAE).

    If the VAE is first needed here it trains on one torch thread: on the shared 2-core machine
    two threads spin-wait and train several times slower.
    """
    import torch

    from latentlab import TrainConfig

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        request.getfixturevalue("vae")
    finally:
        torch.set_num_threads(n)

    return dict(
        dataset="digits",
        n_pool=400,
        n_test=200,
        generator_config=quick_gen_config,
        initial=30,
        per_round=5,
        compare=False,
        grid_size=12,
        train_config=TrainConfig(epochs=1, batch_size=32, lr=1e-3, min_steps=40),
    )


@pytest.fixture(autouse=True)
def _one_torch_thread_for_widgets(request):
    """Widget tests run torch on one thread: on a shared 2-core machine two threads mostly wait."""
    if not request.node.path.name.startswith(("test_explorer", "test_widgets", "test_browser")):
        yield
        return
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def digits_context(small_digits, target, **kw):
    """A SamplingContext on the small digits pool with 50 labelled items (every 8th) and ``target`` as F."""
    import numpy as np
    import torch

    from latentlab import PoolState
    from latentlab.strategies import SamplingContext
    from latentlab.tasks import Classification

    torch.manual_seed(0)
    pool = PoolState.empty(400).label(np.arange(0, 400, 8), 1)  # 50 labelled
    return SamplingContext(
        x_pool=small_digits.x_train,
        y_pool=small_digits.y_train,
        pool=pool,
        task=Classification(),
        target=target.eval(),
        **kw,
    )
