"""docker-compose.yml is held to the code statically (fast, no engine); deploy/tests/test_compose_system.py
runs it for real (marker compose)."""

import importlib
import re
import subprocess
import tomllib

import pytest
import yaml

from energychain_shared.settings import ENV_PREFIX, REPO_ROOT, CommonSettings
from energychain_shared.topics import ALL_TOPICS

pytestmark = pytest.mark.unit

COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
OURS = {name: spec for name, spec in SERVICES.items() if spec.get("image", "").startswith("energychain:")}
PYPROJECTS = [REPO_ROOT / "shared" / "pyproject.toml", *sorted(REPO_ROOT.glob("services/*/pyproject.toml")),
              *sorted(REPO_ROOT.glob("web/pyproject.toml")), *sorted(REPO_ROOT.glob("clients/*/pyproject.toml"))]


def published(ports: list[str]) -> str:
    """The container port of a service's one published port, which must be on 127.0.0.1 only
    (127.0.0.1:${EC_COMPOSE_<NAME>_PORT:-P}:P, the host port movable, by default the same)."""
    (spec,) = ports
    match = re.fullmatch(r"127\.0\.0\.1:\$\{EC_COMPOSE_[A-Z_]+_PORT:-(\d+)\}:(\d+)", spec)
    assert match and match.group(1) == match.group(2), f"{spec} is not published on 127.0.0.1:P:P"
    return match.group(2)


def console_scripts() -> dict[str, str]:
    scripts = {}
    for pyproject in PYPROJECTS:
        scripts.update(tomllib.loads(pyproject.read_text())["project"].get("scripts", {}))
    return scripts


def settings_classes() -> list[type[CommonSettings]]:
    classes = [CommonSettings]
    for pyproject in PYPROJECTS[1:]:
        package = tomllib.loads(pyproject.read_text())["project"]["name"].replace("-", "_").replace(
            "energychain_gsa_market", "energychain_market")
        try:
            module = importlib.import_module(f"{package}.settings")
        except ModuleNotFoundError:
            continue
        classes += [v for v in vars(module).values()
                    if isinstance(v, type) and issubclass(v, CommonSettings) and v is not CommonSettings]
    return classes


KNOWN_VARIABLES = {ENV_PREFIX + name.upper() for cls in settings_classes() for name in cls.model_fields}


def commands() -> list[tuple[str, list[str]]]:
    found = []
    for name, spec in OURS.items():
        command = spec["command"]
        if command[:2] == ["sh", "-c"]:
            found += [(name, step.split()) for step in re.split(r"\s*&&\s*", command[2].strip())]
        else:
            found.append((name, command))
    return found


@pytest.mark.parametrize("service, argv", commands(), ids=lambda v: v if isinstance(v, str) else " ".join(v[:2]))
def test_every_compose_command_is_an_installed_entry_point_with_that_subcommand(service, argv):
    scripts = console_scripts()
    assert argv[0] in scripts, f"{service}: {argv[0]} is not a console script of any package"
    executable = REPO_ROOT / ".venv" / "bin" / argv[0]
    if len(argv) > 1 and not argv[1].startswith("-"):
        result = subprocess.run([str(executable), argv[1], "--help"], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"{service}: `{' '.join(argv[:2])} --help` failed: {result.stderr[-500:]}"


def test_every_variable_compose_sets_is_a_known_setting():
    for name, spec in OURS.items():
        for variable in spec.get("environment", {}):
            assert variable in KNOWN_VARIABLES, f"{name} sets {variable}, which no settings class reads"


def test_published_ports_and_health_checks_match_each_api_port_setting():
    for name, spec in OURS.items():
        ports = spec.get("ports", [])
        if not ports:
            continue
        environment = spec["environment"]
        (port_variable,) = [v for v in environment if v.endswith("_PORT") and v != "EC_PG_PORT"]
        port = environment[port_variable]
        assert published(ports) == port, name
        assert f"127.0.0.1:{port}/healthz" in " ".join(spec["healthcheck"]["test"]), name
        if port_variable == "EC_WITNESS_PORT":  # several witnesses: each on the port deploy/witnesses.sh gives it
            listed = subprocess.run([str(REPO_ROOT / "deploy" / "witnesses.sh"), "list"], capture_output=True,
                                    text=True, check=True, env={"PATH": "/usr/bin:/bin"}).stdout.split()
            assert f"{environment['EC_WITNESS_NAME']}:{environment['EC_WITNESS_USERNAME']}:{port}" in listed, name
            continue
        cls = next(c for c in settings_classes() if port_variable.removeprefix(ENV_PREFIX).lower() in c.model_fields)
        assert str(cls.model_fields[port_variable.removeprefix(ENV_PREFIX).lower()].default) == port, (
            f"{name}: compose publishes {port} but {cls.__name__} defaults to another port")


def test_client_urls_point_at_the_compose_service_and_port_of_each_api():
    environment = COMPOSE["x-energychain"]["environment"]
    for variable, url in environment.items():
        if not variable.endswith("_URL"):
            continue
        host, port = re.match(r"http://([\w-]+):(\d+)$", url).groups()
        assert host in SERVICES, f"{variable} names {host}, not a compose service"
        assert published(SERVICES[host]["ports"]) == port, variable


def test_kafka_and_postgres_addresses_match_their_containers():
    environment = COMPOSE["x-energychain"]["environment"]
    assert environment["EC_KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert "PLAINTEXT://kafka:9092" in SERVICES["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert SERVICES["kafka"]["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert environment["EC_PG_HOST"] == "postgres" and environment["EC_PG_PORT"] == "5432"


def test_topics_are_created_by_the_project_and_compose_names_no_unknown_topic():
    init = " ".join(SERVICES["init"]["command"])
    assert "energychain-topics" in init
    text = (REPO_ROOT / "docker-compose.yml").read_text()
    known = {t.name for t in ALL_TOPICS}
    mentioned = set(re.findall(r"\b(?:meter|billing|escrow|market|ledger)\.[a-z.-]+\b", text))
    assert mentioned <= known, mentioned - known


def test_every_stream_worker_can_scale_because_it_publishes_no_fixed_port_or_name():
    workers = [n for n in OURS if n.endswith(("-worker", "-consumer"))]
    assert workers, "no scalable stream workers in compose"
    for name in workers:
        assert "ports" not in OURS[name] and "container_name" not in OURS[name], name


def test_every_published_port_is_on_loopback_only():
    for name, spec in SERVICES.items():
        for port in spec.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_every_image_is_built_from_the_base_build_argument():
    for dockerfile in sorted((REPO_ROOT / "deploy" / "docker").glob("**/Dockerfile")):
        text = dockerfile.read_text()
        froms = re.findall(r"^FROM (\S+)", text, re.MULTILINE)
        assert "ARG BASE=debian:bookworm-slim" in text and froms, dockerfile
        assert all(f in ("${BASE}", "energychain/kafka:0.1.0") for f in froms), (dockerfile, froms)
    for name, spec in SERVICES.items():
        if spec.get("image", "").startswith("energychain"):
            assert spec["build"]["args"]["BASE"].startswith("${BASE:-"), name


def test_the_cluster_profile_runs_three_kraft_nodes_and_replicates_every_topic():
    cluster = yaml.safe_load((REPO_ROOT / "deploy" / "docker" / "compose.cluster.yml").read_text())["services"]
    nodes = {n: cluster[n]["environment"] for n in ("kafka", "kafka-2", "kafka-3")}
    assert sorted(e["KAFKA_NODE_ID"] for e in nodes.values()) == ["1", "2", "3"]
    assert {e["KAFKA_CONTROLLER_QUORUM_VOTERS"] for e in nodes.values()} == {"1@kafka:9093,2@kafka-2:9093,3@kafka-3:9093"}
    assert all(e["KAFKA_MIN_INSYNC_REPLICAS"] == "2" and e["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "3" for e in nodes.values())
    for name in OURS:
        environment = cluster[name]["environment"]
        assert environment["EC_KAFKA_REPLICATION_FACTOR"] == "3", name
        assert environment["EC_KAFKA_MIN_INSYNC_REPLICAS"] == "2", name
        assert environment["EC_KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092,kafka-2:9092,kafka-3:9092", name


def test_grafana_keeps_its_profile():
    assert SERVICES["grafana"]["profiles"] == ["grafana"]


def test_the_image_installs_every_service_package():
    dockerfile = (REPO_ROOT / "deploy" / "docker" / "Dockerfile").read_text()
    for pyproject in PYPROJECTS[:1] + [p for p in PYPROJECTS if p.parent.parent.name == "services"]:
        relative = pyproject.parent.relative_to(REPO_ROOT)
        assert f"-e {relative}" in dockerfile, f"the image does not install {relative}"
