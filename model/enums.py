"""Kinds and states used across the model, as enums so typos fail loudly."""

from __future__ import annotations

from enum import Enum, IntEnum


class FunderKind(str, Enum):
    """Licensed funder kinds (the output contract's spelling, model/output.py)."""

    BANK_STATE = "bank_state"
    BANK_JOINT_STOCK = "bank_joint_stock"
    BANK_CITY = "bank_city"
    BANK_RURAL = "bank_rural"
    BANK_INTERNET = "bank_internet"
    CFC = "cfc"
    MICROLENDER = "microlender"
    TRUST = "trust"

    @property
    def is_bank(self) -> bool:
        return self.value.startswith("bank_")


#: The large banks (state-owned and joint-stock) and the small ones (city and rural commercial banks): groups the
#: rules and the validation targets treat alike.
LARGE_BANK_KINDS: tuple[FunderKind, ...] = (FunderKind.BANK_STATE, FunderKind.BANK_JOINT_STOCK)
SMALL_BANK_KINDS: tuple[FunderKind, ...] = (FunderKind.BANK_CITY, FunderKind.BANK_RURAL)

#: Integer codes for funder kinds, used in the vectorized loan book.
KIND_CODES: dict[FunderKind, int] = {k: i for i, k in enumerate(FunderKind)}


class Tier(IntEnum):
    """Platform tiers (docs/domain.md, The players: head, waist, tail)."""

    HEAD = 0
    WAIST = 1
    TAIL = 2

    @property
    def label(self) -> str:
        return self.name.lower()


class Channel(IntEnum):
    """Acquisition channels; the order is the column order of channel arrays."""

    INFO_FLOW = 0
    API = 1
    ECOSYSTEM = 2
    REFERRAL = 3
    REPEAT = 4

    @property
    def label(self) -> str:
        return self.name.lower()


class ExitMode(IntEnum):
    """How a platform left the market."""

    ACTIVE = 0
    FAILURE = 1
    WIND_DOWN = 2
    ABROAD = 3


class Segment(IntEnum):
    """Borrower risk segments at creation (exogenous)."""

    PRIME = 0
    NEAR_PRIME = 1
    SUBPRIME = 2


class Region(str, Enum):
    """Funder regions. ``national`` funders (state, joint-stock, internet banks) have no regional charter."""

    NATIONAL = "national"
    EAST = "east"
    CENTRAL = "central"
    WEST = "west"
