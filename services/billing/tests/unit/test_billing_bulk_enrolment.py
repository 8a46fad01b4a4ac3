"""Bulk enrolment files: every row is a resident with its contract, or the first bad one is named."""

from __future__ import annotations

from decimal import Decimal

import pytest

from energychain_billing.domain.enrolment import COLUMNS, residents_of_csv
from energychain_shared.registry import RegistryRefusal

pytestmark = pytest.mark.unit
HEADER = ",".join(COLUMNS)


def test_rows_become_residents_with_their_contracts_and_the_registry_defaults():
    text = (f"{HEADER}\n"
            "house-9,rosa,Rosa Diaz,\"1 Main St, Fowler\",fowler,0.21,3,10000,2000,2022-01-03,all_consumption\n"
            "house-10,ana,Ana Ruiz,2 Main St,fowler,0.22,,12000,1000,2022-02-01,\n")
    first, second = residents_of_csv(text)
    assert first.address == "1 Main St, Fowler" and first.contract.escalator_percent == Decimal("3")
    assert first.contract.billing_basis == "all_consumption"
    assert second.contract.escalator_percent == Decimal("2") and second.contract.billing_basis == "delivered"


def test_a_bad_row_is_refused_with_its_line_and_column():
    text = (f"{HEADER}\n"
            "house-9,rosa,Rosa Diaz,1 Main St,fowler,0.21,2,10000,2000,2022-01-03,delivered\n"
            "house-10,ana,Ana Ruiz,2 Main St,fowler,0.22,2,12000,1000,2022-02-30,delivered\n")
    with pytest.raises(RegistryRefusal) as refused:
        residents_of_csv(text)
    assert refused.value.field == "line 3: start_date"


def test_a_reserve_larger_than_the_battery_is_refused():
    text = f"{HEADER}\nhouse-9,rosa,Rosa Diaz,1 Main St,fowler,0.21,2,1000,2000,2022-01-03,delivered\n"
    with pytest.raises(RegistryRefusal, match="reserve_wh exceeds battery_wh"):
        residents_of_csv(text)


def test_a_file_without_the_columns_is_refused_naming_them():
    with pytest.raises(RegistryRefusal) as refused:
        residents_of_csv("house,user\nh,u\n")
    assert refused.value.field == "header" and "house_id" in refused.value.message


def test_text_that_is_not_csv_is_refused_not_crashed_on():
    with pytest.raises(RegistryRefusal) as refused:
        residents_of_csv(HEADER + "\n" + "x" * 200_000 + "\n")
    assert refused.value.field == "file"
