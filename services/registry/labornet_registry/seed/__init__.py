"""A synthetic field-agent network, the same every time from the same seed.

``labornet registry seed``, the demos, the tests and the import benchmark all
use this one generator, and it writes the roster CSV that provinces send, so
that a seeded network goes through the same importer as a real one.

The network looks like the real one (issue 4): 725 labour graduates with at
least one in every province, 126 of them in the central region, more in big
provinces and in the deep south where the network began; 7,746 labour
volunteers in Thailand, one in nearly every subdistrict and two in a few big
ones; 408 volunteers abroad, weighted like the Thai workers abroad. Everyone
gets a plausible Thai name, a valid and unique national ID, a unique phone,
and the languages people speak where they work.

The national IDs pass validation but are random; never use this data outside
tests, demos and benchmarks.
"""

from __future__ import annotations

from labornet_registry.seed.figures import (
    NETWORK_GRADUATES,
    NETWORK_VOLUNTEERS_ABROAD,
    NETWORK_VOLUNTEERS_THAILAND,
    ROSTER_COLUMNS,
)
from labornet_registry.seed.network import generate_network, write_network_csv

__all__ = [
    "NETWORK_GRADUATES",
    "NETWORK_VOLUNTEERS_ABROAD",
    "NETWORK_VOLUNTEERS_THAILAND",
    "ROSTER_COLUMNS",
    "generate_network",
    "write_network_csv",
]
