"""EnergyChain web apps: the role portals and a same-origin proxy to the services."""

SERVICE_NAME = "web"
