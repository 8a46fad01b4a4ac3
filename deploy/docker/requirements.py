"""Prints every third-party pin of the project's pyproject.toml files (a requirements file), so the
image installs its dependencies in a layer of their own, before any code is copied in."""

import sys
import tomllib
from pathlib import Path

root = Path(sys.argv[1])
pins: set[str] = set()
for pyproject in sorted(root.glob("**/pyproject.toml")):
    project = tomllib.loads(pyproject.read_text())["project"]
    for requirement in project.get("dependencies", []):
        if not requirement.lower().startswith("energychain"):
            pins.add(requirement)
print("\n".join(sorted(pins)))
