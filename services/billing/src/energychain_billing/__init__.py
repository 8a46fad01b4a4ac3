"""EnergyChain billing: meter readings to monthly PPA invoices, payments and past-due notices."""

SERVICE_NAME = "billing"
