#!/usr/bin/env python3
"""Turns the output of `kustomize build deploy/podman/k8s` into what `podman kube play` runs.

Podman 4.3 (Debian 12's) runs Pods, Deployments, ConfigMaps and Secrets (the last only in
its own format: scripts/kube-up.sh makes them) and ignores every other kind. So:

  * each Job becomes a Pod of the same name running the Job's pod template (restartPolicy
    OnFailure: it retries until it succeeds, as the Job's backoff would);
  * a container whose command or args name $(VAR) gets them run by /bin/sh -c, each $(VAR) a
    "${VAR}" there: Kubernetes expands those references from the container's env, Podman 4.3
    passes them on as written (the postgres-init Job's psql would get "$(PSQL_ADMIN_URL)");
  * the kinds Podman does not run (Namespace, Service, NetworkPolicy, PodDisruptionBudget)
    are left out, and named on stderr;
  * every EVENTPOST_* variable of the caller's environment, but those that name one instance
    (compose.py's PER_INSTANCE), goes into the ConfigMap eventpost-config, over its value —
    `EVENTPOST_RATE_LIMIT=100 scripts/kube-up.sh`, as with compose-up.sh;
  * the host directories of the keys move under KEY_DIR (the overlay names
    /var/cache/eventpost-kube/keys);
  * a port published on another address than 127.0.0.1 is refused, and the host ports of the
    gateway, Mailpit and Jaeger move as compose.py's HOST_PORTS say.

Usage: kube.py KEY_DIR < kustomize-output > kube-play-input
"""
import re
import sys

import yaml

from compose import NoAliases, host_port, passed_env

RUN = {"Pod", "Deployment", "ConfigMap"}
OVERLAY_KEYS = "/var/cache/eventpost-kube/keys"


def job_pod(job):
    """The Pod that runs a Job's template once, until it succeeds."""
    template = job["spec"]["template"]
    meta = {**template.get("metadata", {}), "name": job["metadata"]["name"]}
    spec = {**template["spec"], "restartPolicy": "OnFailure"}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


REF = re.compile(r"\$\((\w+)\)")


def shell_word(arg):
    """arg as one double-quoted word of sh, with each $(VAR) expanded there and nothing else."""
    parts = REF.split(arg)  # literal, name, literal, name, ...
    word = ""
    for i, part in enumerate(parts):
        if i % 2:
            word += "${" + part + "}"
        else:
            word += re.sub(r'([\\"$`])', r"\\\1", part)
    return '"' + word + '"'


def expand_refs(container):
    """Runs the container's command and args through sh when they name $(VAR)."""
    argv = container.get("command", []) + container.get("args", [])
    if not any(REF.search(a) for a in argv):
        return
    if not container.get("command"):
        sys.exit(f'kube.py: {container["name"]}: $(VAR) in args needs a command to run them with')
    container["command"] = ["/bin/sh", "-c", "exec " + " ".join(shell_word(a) for a in argv)]
    container.pop("args", None)


def pod_spec(doc):
    return doc["spec"]["template"]["spec"] if doc["kind"] == "Deployment" else doc["spec"]


def main(key_dir):
    out, ignored = [], []
    for doc in yaml.safe_load_all(sys.stdin):
        if doc is None:
            continue
        if doc["kind"] == "Job":
            doc = job_pod(doc)
        if doc["kind"] not in RUN:
            ignored.append(f'{doc["kind"]}/{doc["metadata"]["name"]}')
            continue
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == "eventpost-config":
            doc["data"] = passed_env(doc["data"])
        if doc["kind"] in ("Pod", "Deployment"):
            spec = pod_spec(doc)
            for v in spec.get("volumes", []):
                if "hostPath" in v and v["hostPath"]["path"].startswith(OVERLAY_KEYS):
                    v["hostPath"]["path"] = key_dir + v["hostPath"]["path"][len(OVERLAY_KEYS):]
            for c in spec["containers"]:
                expand_refs(c)
                for p in c.get("ports", []):
                    if p.get("hostPort") and p.get("hostIP") != "127.0.0.1":
                        sys.exit(f'kube.py: {doc["metadata"]["name"]} would publish {p["hostPort"]} on every address')
                    if p.get("hostPort"):
                        p["hostPort"] = host_port(p["hostPort"])
        out.append(doc)
    print("kube.py: not run by podman kube play:", " ".join(ignored), file=sys.stderr)
    yaml.dump_all(out, sys.stdout, Dumper=NoAliases, sort_keys=False)


if __name__ == "__main__":
    main(sys.argv[1])
