"""HTTP entry points: the resident's bills, payments and usage; municipal and GSA account status; the program's
administration (program_api)."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from energychain_shared.auth import Principal, Role, require_role
from energychain_shared.registry import Resident
from energychain_shared.problems import problem_response
from energychain_shared.outbox import relay
from energychain_shared.service_api import create_service_app

from energychain_billing import invoice_pdf, metrics, views
from energychain_billing.bootstrap import build_context
from energychain_billing.context import BillingContext
from energychain_billing.domain import greenbutton
from energychain_billing.domain.payments import (
    BillingNotStarted, IdempotencyKeyReused, InvalidPayment, NotAResident, PaymentRefused, UnknownInvoice,
    parse_amount_cents, parse_method, request_fingerprint,
)
from energychain_billing.payments import PaymentRequest, record_payment
from energychain_billing.program_api import MAX_CSV_BYTES, install_program_api
from energychain_billing.settings import BillingSettings

log = logging.getLogger(__name__)
UTC = timezone.utc
MAX_HOURLY_SPAN = timedelta(days=400)


class PaymentBody(BaseModel):
    """A payment: dollars as a string with at most two decimals, a rail, optionally the invoice it is for."""

    model_config = ConfigDict(extra="forbid")

    amount: Any = Field(description='dollars as a string, e.g. "42.17"')
    method: Any = Field(description="card, venmo, zelle or ach")
    invoice_id: str | None = Field(default=None, max_length=128)


# The HTTP status of each refusal of a payment (domain errors carry none).
REFUSAL_STATUS: dict[type[PaymentRefused], int] = {
    InvalidPayment: 422, NotAResident: 403, BillingNotStarted: 409, IdempotencyKeyReused: 409, UnknownInvoice: 404,
}

ResidentPrincipal = Annotated[Principal, Depends(require_role(Role.RESIDENT))]
MunicipalityPrincipal = Annotated[Principal, Depends(require_role(Role.MUNICIPALITY))]
GsaPrincipal = Annotated[Principal, Depends(require_role(Role.GSA))]


def _refusal(status: int, field: str, message: str) -> HTTPException:
    return HTTPException(status, detail={"field": field, "message": message})


def _month(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", value):  # months compare as strings: two digits
        raise _refusal(422, field, "must be a month, YYYY-MM")
    return value


def _instant(value: str, field: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise _refusal(422, field, "must be an ISO-8601 date or time") from None


def create_app(settings: BillingSettings, *, context: BillingContext | None = None, producer=None) -> FastAPI:
    """Billing's FastAPI app; the lifespan builds the context and producer unless given (tests)."""

    app = create_service_app(settings, title="EnergyChain billing", build_context=build_context, context=context,
                             producer_client_id="billing-api", producer=producer, max_body_bytes=MAX_CSV_BYTES)
    install_program_api(app)

    @app.exception_handler(PaymentRefused)
    async def refused(request: Request, error: PaymentRefused) -> Response:
        metrics.PAYMENTS_REFUSED.labels(error.field).inc()
        return problem_response(REFUSAL_STATUS[type(error)], f"{error.field}: {error.message}", field=error.field,
                                instance=request.url.path)

    def ctx(request: Request) -> BillingContext:
        return request.app.state.ctx

    def resident_of(request: Request, principal: Principal) -> Resident:
        resident = ctx(request).resident(principal.house_id or "")
        if resident is None:
            raise _refusal(403, "token", "no registered house for this resident")
        return resident

    # ------------------------------------------------------------------ resident
    @app.get("/resident/account", tags=["resident"])
    async def account(request: Request, principal: ResidentPrincipal) -> dict[str, Any]:
        """Account header: who, where, the contract and the current rate; balance and past-due flag."""
        resident = resident_of(request, principal)
        context = ctx(request)
        _, position, now = await views.invoices_of(context, resident.house_id)
        tariff = context.tariff(resident)
        rate = tariff.rate_at(now) if now is not None else tariff.rate_for_year(1)
        if now is None:
            contract, municipality_id = resident.contract, resident.municipality_id
        else:  # the terms and the municipality in force on the clock's day
            contract = resident.contract_on(now.astimezone(tariff.zone).date())
            municipality_id = context.municipality_at(resident, now)
        return {
            "house_id": resident.house_id, "name": resident.name, "address": resident.address,
            "municipality_id": municipality_id, "battery_wh": contract.battery_wh,
            "reserve_wh": contract.reserve_wh, "rate_usd_per_kwh": str(rate),
            "escalator_percent": str(contract.escalator_percent), "contract_start": contract.start_date.isoformat(),
            "billing_basis": contract.billing_basis, "balance_cents": position.balance_cents,
            "past_due": position.past_due, "past_due_cents": position.past_due_cents,
            "sim_time": None if now is None else now.isoformat(),
        }

    @app.get("/resident/charges", tags=["resident"])
    async def charges(request: Request, principal: ResidentPrincipal) -> dict[str, Any]:
        """Current charges: balance, past-due flag and the latest invoice."""
        resident = resident_of(request, principal)
        summaries, position, _ = await views.invoices_of(ctx(request), resident.house_id)
        latest = summaries[-1] if summaries else None
        return {
            "balance_cents": position.balance_cents, "past_due": position.past_due,
            "past_due_cents": position.past_due_cents, "latest_invoice": latest,
            "due_at": None if latest is None else latest["due_at"],
        }

    @app.get("/resident/invoices", tags=["resident"])
    async def invoices(request: Request, principal: ResidentPrincipal) -> list[dict[str, Any]]:
        """Every invoice, oldest first, with what is paid and outstanding."""
        summaries, _, _ = await views.invoices_of(ctx(request), resident_of(request, principal).house_id)
        return summaries

    @app.get("/resident/invoices/{invoice_id}", tags=["resident"])
    async def invoice(invoice_id: str, request: Request, principal: ResidentPrincipal) -> dict[str, Any]:
        """One invoice with its numbered lines."""
        detail = await views.invoice_detail(ctx(request), resident_of(request, principal).house_id, invoice_id)
        if detail is None:
            raise _refusal(404, "invoice_id", f"no invoice {invoice_id!r} on this account")
        return detail

    @app.get("/resident/invoices/{invoice_id}/pdf", tags=["resident"], response_class=Response,
             responses={200: {"content": {"application/pdf": {}}, "description": "The invoice as a PDF file."}})
    async def invoice_document(invoice_id: str, request: Request, principal: ResidentPrincipal) -> Response:
        """One invoice as a PDF to download: account, period, dates, numbered lines, totals, any past-due notice."""
        resident = resident_of(request, principal)
        context = ctx(request)
        detail = await views.invoice_detail(context, resident.house_id, invoice_id)
        if detail is None:
            raise _refusal(404, "invoice_id", f"no invoice {invoice_id!r} on this account")
        account = invoice_pdf.InvoiceAccount(
            name=resident.name, address=resident.address, house_id=resident.house_id,
            municipality=context.registry.by_municipality[resident.municipality_id].name,
            zone=context.schedules[resident.municipality_id].zone,
        )
        try:  # CPU work (font subsetting): off the event loop
            document = await asyncio.to_thread(invoice_pdf.render_invoice_pdf, detail, account)
        except invoice_pdf.InvoiceFontMissing as error:
            raise _refusal(503, "font", str(error)) from None
        filename = invoice_pdf.pdf_filename(detail["invoice_id"])
        return Response(document, media_type="application/pdf", headers={
            "Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "private, no-store",
        })

    @app.get("/resident/energy-cost", tags=["resident"])
    async def energy_cost(
        request: Request, principal: ResidentPrincipal,
        start: Annotated[str | None, Query(alias="from", description="first month, YYYY-MM")] = None,
        end: Annotated[str | None, Query(alias="to", description="last month, YYYY-MM")] = None,
    ) -> list[dict[str, Any]]:
        """PPA energy and its cost by invoiced month (the energy cost chart)."""
        first, last = _month(start, "from"), _month(end, "to")
        summaries, _, _ = await views.invoices_of(ctx(request), resident_of(request, principal).house_id)
        return [
            {"period": s["period"], "energy_wh": s["energy_wh"], "amount_cents": s["new_charges_cents"]}
            for s in summaries
            if (first is None or s["period"] >= first) and (last is None or s["period"] <= last)
        ]

    @app.post("/resident/payments", status_code=201, tags=["resident"])
    async def pay(
        body: PaymentBody, request: Request, principal: ResidentPrincipal,
        idempotency_key: Annotated[str, Header(alias="Idempotency-Key", min_length=1, max_length=64)],
    ) -> JSONResponse:
        """Pay any amount (partial or more than due) by card, Venmo, Zelle or ACH, exactly once per key."""
        resident = resident_of(request, principal)
        amount_cents = parse_amount_cents(body.amount)  # InvalidPayment: 422 naming the field
        method = parse_method(body.method)
        context = ctx(request)
        payment, created = await record_payment(
            context,
            PaymentRequest(
                house_id=resident.house_id, idempotency_key=idempotency_key,
                fingerprint=request_fingerprint(amount_cents=amount_cents, method=method, invoice_id=body.invoice_id),
                amount_cents=amount_cents, method=method, invoice_id=body.invoice_id,
            ),
        )
        if created:
            metrics.PAYMENTS.labels(method).inc()
            try:
                await relay(context.engine, request.app.state.producer, schema=settings.billing_db_schema)
            except Exception:  # committed in the outbox: the worker's relay publishes it
                log.exception("publishing the payment failed; left in the outbox")
        _, position, _ = await views.invoices_of(context, resident.house_id)
        return JSONResponse(
            status_code=201 if created else 200, content={**payment, "balance_cents": position.balance_cents}
        )

    @app.get("/resident/payments", tags=["resident"])
    async def payments(request: Request, principal: ResidentPrincipal) -> list[dict[str, Any]]:
        """Payment history, oldest first."""
        return await views.payments_of(ctx(request), resident_of(request, principal).house_id)

    @app.get("/resident/usage", tags=["resident"])
    async def usage(
        request: Request, principal: ResidentPrincipal,
        start: Annotated[str, Query(alias="from", description="ISO date or time (UTC unless an offset is given)")],
        end: Annotated[str, Query(alias="to", description="ISO date or time, exclusive")],
        granularity: Literal["hour", "day", "month"] = "day",
    ) -> list[dict[str, Any]]:
        """Metered energy by hour, or by local day or month, in [from, to)."""
        first, last = _instant(start, "from"), _instant(end, "to")
        if last <= first:
            raise _refusal(422, "to", "must be after from")
        if last - first > MAX_HOURLY_SPAN:
            raise _refusal(422, "to", f"the range is limited to {MAX_HOURLY_SPAN.days} days")
        return await views.usage(
            ctx(request), resident_of(request, principal), start=first, end=last, granularity=granularity
        )

    @app.get("/resident/usage/greenbutton", tags=["resident"], response_class=Response, responses={200: {
        "content": {"application/atom+xml": {}, "text/csv": {}},
        "description": "The hourly usage as a Green Button (ESPI) feed or a CSV file, to download.",
    }})
    async def usage_export(
        request: Request, principal: ResidentPrincipal,
        start: Annotated[str, Query(alias="from", description="first local day, YYYY-MM-DD")],
        end: Annotated[str, Query(alias="to", description="the local day after the last one, YYYY-MM-DD")],
        format: Annotated[str, Query(description="xml (Green Button) or csv")] = "xml",
    ) -> Response:
        """The house's hourly usage of local days [from, to): Green Button XML (home consumption, solar
        production) or CSV (every measure), each value the metered integer Wh."""
        resident = resident_of(request, principal)
        context = ctx(request)
        try:
            span = greenbutton.export_span(start, end, context.schedules[resident.municipality_id].zone)
            kind = greenbutton.export_format(format)
        except greenbutton.InvalidExport as error:
            raise _refusal(422, error.field, error.message) from None
        hours = await views.usage(context, resident, start=span.start, end=span.end, granularity="hour")
        export = await asyncio.to_thread(greenbutton.render, span, hours, house_id=resident.house_id, fmt=kind)
        return Response(export.body, media_type=export.media_type, headers={
            "Content-Disposition": f'attachment; filename="{export.filename}"', "Cache-Control": "private, no-store",
        })

    # ------------------------------------------------------------- municipality
    @app.get("/municipality/accounts", tags=["municipality"])
    async def municipal_accounts(request: Request, principal: MunicipalityPrincipal) -> list[dict[str, Any]]:
        """Balance and past-due status of every resident of the caller's municipality."""
        residents = [r for r in ctx(request).registry.residents if r.latest_municipality_id == principal.municipality_id]
        return await views.account_rows(ctx(request), residents)

    # ----------------------------------------------------------------------- gsa
    @app.get("/gsa/accounts", tags=["gsa"])
    async def all_accounts(request: Request, _principal: GsaPrincipal) -> list[dict[str, Any]]:
        """Balance and past-due status of every resident of the program."""
        return await views.account_rows(ctx(request), list(ctx(request).registry.residents))

    return app
