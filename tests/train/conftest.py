import pytest
from nequip.utils.global_state import set_global_state


@pytest.fixture(scope="session", autouse=True)
def nequip_global_state():
    set_global_state()
