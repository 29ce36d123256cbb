"""One torch thread in search tests, as the service's workers use (ROBUSTEDGE_UNIT_THREADS):
fine-tuning small models is much faster that way on a loaded 2-core machine."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
