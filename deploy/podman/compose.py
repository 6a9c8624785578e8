#!/usr/bin/env python3
"""Writes the compose file that scripts/compose-up.sh hands to podman-compose.

podman-compose 1.0.3 (Debian 12's) has no profiles and merges override files by appending
lists (a second `command` or `ports` is added to the first), so the Podman variant of
deploy/docker-compose.yml is written out whole instead of overriding it:

  * the services in EVENTPOST_COMPOSE_SKIP (default: loki grafana prometheus, which are not
    built: see docs/containers.md) are left out, and so are the depends_on entries naming them;
  * every image is built locally beforehand, so no service has a `build` section;
  * the collector runs deploy/podman/otel-collector.yaml (traces to Jaeger, logs to its debug
    exporter);
  * the gateway is published on 127.0.0.1:8080 only; of docker-compose.tools.yml's development
    UIs, those of the services in EVENTPOST_COMPOSE_TOOLS (default: mailpit jaeger, whose APIs
    deploy/compose_test.go reads; the others' ports may be taken on a developer's machine, by
    the tests' own Consul for one) are added, on 127.0.0.1 too; the host ports of the gateway,
    Mailpit and Jaeger are EVENTPOST_STACK_HTTP_PORT, EVENTPOST_STACK_MAILPIT_PORT and
    EVENTPOST_STACK_JAEGER_PORT when set (HOST_PORTS), and EVENTPOST_PUBLIC_URL follows the
    gateway's unless it is set;
  * every EVENTPOST_* variable of the caller's environment, but those that name one instance
    (PER_INSTANCE), is passed to every EventPost service, overriding the file's value;
  * relative bind-mount sources are made absolute, so the file can live anywhere;
  * a service with `network_mode: none` (keygen) gets an internal network of its own instead:
    podman-compose 1.0.3 adds `--net "" --network-alias` to it, which podman refuses.

Usage: compose.py DEPLOY_DIR OUT_FILE
"""
import os
import sys

import yaml

PER_INSTANCE = {
    "EVENTPOST_INSTANCE_ID", "EVENTPOST_ADVERTISE_ADDR", "EVENTPOST_DATABASE_URL",
    "EVENTPOST_SERVICE_KEY_FILE", "EVENTPOST_CALLER_KEYS_FILE",
}
"""Variables that differ between the services: never taken from the caller's environment."""

# Variables of compose-up.sh, kube-up.sh and the test suites, not of the services.
OWN_PREFIXES = ("EVENTPOST_COMPOSE", "EVENTPOST_KUBE", "EVENTPOST_STACK_", "EVENTPOST_INTEGRATION", "EVENTPOST_TEST_")

HOST_PORTS = {
    8080: "EVENTPOST_STACK_HTTP_PORT",
    8025: "EVENTPOST_STACK_MAILPIT_PORT",
    16686: "EVENTPOST_STACK_JAEGER_PORT",
}
"""The ports both stacks publish on 127.0.0.1, each the same as the container's by default, and
the variable that moves it (the tests read the same ones: deploy/compose_test.go)."""


def host_port(container_port):
    """The port of 127.0.0.1 that container_port is published on."""
    v = os.environ.get(HOST_PORTS.get(container_port, ""), "") or str(container_port)
    if not v.isdigit() or not 0 < int(v) < 65536:
        sys.exit(f"compose.py: {HOST_PORTS[container_port]}={v} is not a port")
    return int(v)


def passed_env(file_env):
    """The EVENTPOST_* variables of this environment that every EventPost service takes, over
    file_env, the variables the stack's file gives them; and the file's EVENTPOST_PUBLIC_URL
    on the gateway's host port (HOST_PORTS) when the caller did not set it."""
    env = {
        k: v for k, v in os.environ.items()
        if k.startswith("EVENTPOST_") and k not in PER_INSTANCE and not k.startswith(OWN_PREFIXES)
    }
    url = file_env.get("EVENTPOST_PUBLIC_URL", "")
    if "EVENTPOST_PUBLIC_URL" not in env and url.endswith(":8080"):
        env["EVENTPOST_PUBLIC_URL"] = url[:-len("8080")] + str(host_port(8080))
    return {**file_env, **env}


class NoAliases(yaml.SafeDumper):
    """A YAML dumper that writes a value shared by several services out in full each time."""

    def ignore_aliases(self, data):
        return True


def absolute(volume, base):
    """Returns a bind mount with a relative source made absolute against base."""
    if isinstance(volume, str) and volume.startswith("."):
        src, rest = volume.split(":", 1)
        return os.path.normpath(os.path.join(base, src)) + ":" + rest
    return volume


def main(deploy, out):
    with open(os.path.join(deploy, "docker-compose.yml")) as f:
        compose = yaml.safe_load(f)
    services = compose["services"]
    skip = os.environ.get("EVENTPOST_COMPOSE_SKIP", "loki grafana prometheus").split()

    published = os.environ.get("EVENTPOST_COMPOSE_TOOLS", "mailpit jaeger").split()
    if published:
        with open(os.path.join(deploy, "docker-compose.tools.yml")) as f:
            tools = yaml.safe_load(f)
        for name, extra in tools["services"].items():
            if name in services and name in published:
                ports = []
                for p in extra.get("ports", []):
                    addr, _, inner = str(p).rpartition(":")
                    ports.append(f"{addr.rpartition(':')[0]}:{host_port(int(inner))}:{inner}")
                services[name].setdefault("ports", []).extend(ports)
                services[name]["networks"] = services[name]["networks"] + extra.get("networks", [])
        compose["networks"].update(tools["networks"])

    for name in skip:
        services.pop(name, None)
    for name, s in services.items():
        s.pop("build", None)
        deps = s.get("depends_on")
        if isinstance(deps, dict):
            for gone in skip:
                deps.pop(gone, None)
        elif isinstance(deps, list):
            s["depends_on"] = [d for d in deps if d not in skip]
        s["volumes"] = [absolute(v, deploy) for v in s.get("volumes", [])]
        if not s["volumes"]:
            del s["volumes"]
        if s.get("network_mode") == "none":
            del s["network_mode"]
            s["networks"] = [name + "-none"]
            compose["networks"][name + "-none"] = {"internal": True}
        if s.get("image") == "eventpost:local" and name != "keygen":
            s["environment"] = passed_env(s.get("environment", {}))
        if name == "gateway":
            s["ports"] = [f"127.0.0.1:{host_port(8080)}:8080"]

    collector = services["otel-collector"]
    collector["command"] = ["--config=/etc/otelcol/podman.yaml"]
    collector["volumes"] = [os.path.join(deploy, "podman", "otel-collector.yaml") + ":/etc/otelcol/podman.yaml:ro"]

    for s in services.values():
        for p in s.get("ports", []):
            if not str(p).startswith("127.0.0.1:"):
                sys.exit(f"compose.py: {p} would be published on every address")

    for key in [k for k in compose if k.startswith("x-")]:
        del compose[key]
    with open(out, "w") as f:
        yaml.dump(compose, f, Dumper=NoAliases, sort_keys=False)


if __name__ == "__main__":
    main(os.path.abspath(sys.argv[1]), sys.argv[2])
