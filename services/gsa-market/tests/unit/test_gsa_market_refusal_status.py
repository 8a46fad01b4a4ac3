"""The API maps each offer refusal class to its HTTP status; the domain's refusals carry none."""

import pytest

from energychain_market.api import refusal_status
from energychain_market.domain.offers import OfferConflict, OfferNotFound, OfferRefused

pytestmark = pytest.mark.unit


def test_a_bad_field_is_422_a_state_conflict_409_and_someone_elses_offer_404():
    assert refusal_status(OfferRefused(rule="reserve_percent_allowed", message="m", field="reserve_percent")) == 422
    assert refusal_status(OfferConflict(rule="cancel_only_open_offers", message="m")) == 409
    assert refusal_status(OfferNotFound(rule="own_offer", message="m", field="offer_id")) == 404
