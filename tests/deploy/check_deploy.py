#!/usr/bin/python3
"""Static check of deploy/: the files say what deploy/README.md says.

    check_deploy.py [--root REPO]

No network, no Docker, no cluster: it parses deploy/compose.yaml, every
manifest of deploy/k8s/, deploy/docker/Dockerfile and the units of
deploy/systemd/, and checks them against the tables of deploy/README.md
(the lines after `<!-- check: compose -->`, `k8s` and `systemd`) and against
the configuration the binaries know:

- every ORDERFLOW_<SECTION>_<KEY> set in compose or k8s names a real
  setting. With ORDERFLOW_BIN_DIR (ctest sets it) the settings are those of
  `orderflow-api --help-config`, and each container's whole environment is
  also run through `--check-config` of its binary, which rejects bad values
  and unknown librdkafka properties; without it, config/orderflow.ini's keys;
- stop grace periods cover the drain that config/orderflow.ini's timeouts
  allow;
- with ORDERFLOW_BIN_DIR, every shared library the binaries link comes from
  a package the Dockerfile's runtime stage installs.

Prints one line per failure and exits 1 if there is any, else 0.
Needs Debian's python3-yaml.
"""
import argparse
import configparser
import os
import re
import shlex
import shutil
import subprocess
import sys

import yaml

FAILURES = []
CHECKS = 0
# a value for secrets the files only reference (32+ bytes, as jwt_key needs)
DUMMY_SECRET = "check-deploy-dummy-secret-0123456789abcdef"


def check(cond, what):
    """Records one assertion; \p what says what was expected."""
    global CHECKS
    CHECKS += 1
    if not cond:
        FAILURES.append(what)
    return bool(cond)


# ---------------------------------------------------------------- config


class Settings:
    """The ORDERFLOW_* names the binaries read, and the .ini's defaults."""

    def __init__(self, root, bin_dir):
        self.root = root
        self.bin_dir = bin_dir
        self.ini = configparser.ConfigParser(
            delimiters=("=",), comment_prefixes=(";", "#"),
            inline_comment_prefixes=None, interpolation=None)
        self.ini.optionxform = str
        self.ini.read(os.path.join(root, "config", "orderflow.ini"))
        self.keys = set()  # (section, key)
        self.checked = set()  # (where, argv) run through --check-config
        source = "config/orderflow.ini"
        if bin_dir:
            out = subprocess.run(
                [os.path.join(bin_dir, "orderflow-api"), "--help-config"],
                capture_output=True, text=True, timeout=30, check=True).stdout
            section = None
            for line in out.splitlines():
                m = re.match(r"^  \[(\w+)\]\s*$", line)
                if m:
                    section = m.group(1)
                    continue
                m = re.match(r"^    (\w+) =", line)
                if m and section and section != "kafka":
                    self.keys.add((section, m.group(1)))
            source = "orderflow-api --help-config"
        else:
            for section in self.ini.sections():
                if section == "kafka":
                    continue
                for key in self.ini[section]:
                    self.keys.add((section, key))
        check(("mysql", "host") in self.keys and ("api", "port") in self.keys,
              f"settings: could not read the keys from {source}")
        self.env_names = {
            f"ORDERFLOW_{s}_{k}".upper(): (s, k) for s, k in self.keys}

    def known(self, name):
        """True if the environment variable \p name is a setting."""
        if name == "ORDERFLOW_CONFIG" or name in self.env_names:
            return True
        # any librdkafka property: ORDERFLOW_KAFKA_LINGER_MS = linger.ms
        # (its name is checked by --check-config when the binaries are here)
        return re.fullmatch(r"ORDERFLOW_KAFKA_[A-Z0-9]+(_[A-Z0-9]+)*",
                            name) is not None

    def default(self, section, key):
        return self.ini[section][key].strip()

    def effective(self, env, section, key):
        """The value \p env gives section.key, else the .ini default."""
        return env.get(f"ORDERFLOW_{section}_{key}".upper(),
                       self.default(section, key))

    def check_config(self, where, argv, env):
        """Runs the binary of \p argv with --check-config and \p env only
        (once per place and binary)."""
        if not self.bin_dir:
            return
        prog = argv[0]
        if prog == "orderflowctl":  # no --check-config: same settings
            argv = ["orderflow-worker", "--role", "commands"]
        elif prog not in ("orderflow-api", "orderflow-worker"):
            check(False, f"{where}: unknown program {prog!r}")
            return
        if (where, tuple(argv)) in self.checked:
            return
        self.checked.add((where, tuple(argv)))
        cmd = [os.path.join(self.bin_dir, argv[0])] + argv[1:]
        cmd.append("--check-config")
        full = {"PATH": "/usr/bin:/bin",
                "ORDERFLOW_CONFIG": os.path.join(self.root, "config",
                                                 "orderflow.ini")}
        full.update({k: str(v) for k, v in env.items()})
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if k in os.environ:
                full[k] = os.environ[k]
        r = subprocess.run(cmd, env=full, capture_output=True, text=True,
                           timeout=30)
        check(r.returncode == 0,
              f"{where}: {' '.join(argv)} --check-config with its "
              f"environment failed: {r.stderr.strip()[:300]}")


def drain_api_s(settings, env):
    """Longest orderflow-api drain: in-flight requests for the produce
    budget + 3 s (src/producer-api/main.c), then up to 5 s of flush."""
    return int(settings.effective(env, "api", "produce_timeout_ms")) // 1000 + 3 + 5


def drain_worker_s(settings, env):
    """Longest worker stop: a batch blocked on MySQL."""
    return (int(settings.effective(env, "mysql", "connect_timeout_s")) +
            int(settings.effective(env, "mysql", "rw_timeout_s")))


def check_env_names(where, env, settings):
    for name in env:
        if name.startswith("ORDERFLOW_"):
            check(settings.known(name),
                  f"{where}: {name} is not a setting the binaries know")


# ---------------------------------------------------------------- README


def doc_table(root, tag):
    """Rows (dicts by header) of the table after <!-- check: tag -->."""
    text = open(os.path.join(root, "deploy", "README.md")).read()
    m = re.search(r"<!-- check: %s -->\n((?:\|.*\n)+)" % re.escape(tag), text)
    if not check(m, f"deploy/README.md: no table after <!-- check: {tag} -->"):
        return []
    lines = [l.strip() for l in m.group(1).strip().splitlines()]
    cells = [[c.strip() for c in l.strip("|").split("|")] for l in lines]
    head = [h.lower() for h in cells[0]]
    rows = [dict(zip(head, r)) for r in cells[2:]]
    check(rows, f"deploy/README.md: the {tag} table is empty")
    return rows


def strip_code(s):
    return s.replace("`", "").strip()


# ---------------------------------------------------------------- compose


def as_env(env):
    """compose environment: a mapping or a list of NAME=VALUE."""
    if env is None:
        return {}
    if isinstance(env, list):
        return dict(e.split("=", 1) if "=" in e else (e, "") for e in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def interpolate(value, where):
    """compose's ${VAR}, ${VAR:-default}, ${VAR:?message} with no variable
    set: defaults taken, required ones become DUMMY_SECRET."""

    def one(m):
        body = m.group(1)
        mm = re.fullmatch(r"(\w+)(?::?-(.*)|:?\?(.*))?", body, re.S)
        if not check(mm, f"{where}: cannot read ${{{body}}}"):
            return ""
        if mm.group(2) is not None:
            return mm.group(2)
        if mm.group(3) is not None:
            return DUMMY_SECRET
        check(False, f"{where}: ${{{mm.group(1)}}} has no default and is "
                     "not required (${VAR:?message}): it would be empty")
        return ""

    return re.sub(r"\$\{([^}]*)\}", one, value)


def command_text(cmd):
    if cmd is None:
        return ""
    if isinstance(cmd, list):
        return " ".join(str(c) for c in cmd)
    return str(cmd)


def healthcheck_text(hc):
    if not hc or hc.get("disable"):
        return None
    return command_text(hc.get("test"))


def program_argv(cmd):
    """The orderflow argv inside a command (sh -c "a && b" gives each)."""
    if isinstance(cmd, str):
        cmd = shlex.split(cmd)
    cmd = [str(c) for c in cmd or []]
    if len(cmd) >= 3 and cmd[0] in ("/bin/sh", "sh") and cmd[1].startswith("-"):
        return [shlex.split(part) for part in re.split(r"&&|;", cmd[2])
                if part.strip()]
    return [cmd] if cmd else []


def check_compose(root, settings):
    path = os.path.join(root, "deploy", "compose.yaml")
    where = "deploy/compose.yaml"
    doc = yaml.safe_load(open(path))
    services = doc.get("services") or {}
    rows = doc_table(root, "compose")
    check(set(services) == {r["service"] for r in rows},
          f"{where}: services {sorted(services)} are not the README's "
          f"{sorted(r['service'] for r in rows)}")
    partitions = None
    for row in rows:
        name = row["service"]
        svc = services.get(name)
        w = f"{where}: service {name}"
        if svc is None:
            continue
        image = strip_code(row["image"])
        if image == "built":
            b = svc.get("build")
            if check(isinstance(b, dict), f"{w}: no build: section"):
                ctx = os.path.normpath(os.path.join(root, "deploy",
                                                    b.get("context", ".")))
                check(ctx == os.path.normpath(root),
                      f"{w}: build context {b.get('context')!r} is not the "
                      "repository root")
                check(os.path.isfile(os.path.join(ctx, b.get("dockerfile",
                                                             "Dockerfile"))),
                      f"{w}: dockerfile {b.get('dockerfile')!r} does not exist "
                      "in the build context")
        else:
            check(svc.get("image") == image,
                  f"{w}: image {svc.get('image')!r}, README says {image!r}")
        replicas = (svc.get("deploy") or {}).get("replicas", 1)
        check(str(replicas) == row["replicas"],
              f"{w}: {replicas} replicas, README says {row['replicas']}")
        want_cmd = strip_code(row["command"])
        if want_cmd != "-":
            check(want_cmd in command_text(svc.get("command")),
                  f"{w}: command {command_text(svc.get('command'))!r} does "
                  f"not run {want_cmd!r}")
        ports = [str(p) for p in svc.get("ports") or []]
        want_ports = [] if row["ports"] == "-" else \
            [p.strip() for p in strip_code(row["ports"]).split(",")]
        check(ports == want_ports,
              f"{w}: ports {ports}, README says {want_ports}")
        deps = svc.get("depends_on") or {}
        if isinstance(deps, list):
            deps = {d: {"condition": "service_started"} for d in deps}
        want = {}
        if row["depends on"] != "-":
            words = {"healthy": "service_healthy",
                     "completed": "service_completed_successfully",
                     "started": "service_started"}
            for part in row["depends on"].split(","):
                dep, cond = part.split()
                want[dep] = words[cond]
        got = {d: (c or {}).get("condition", "service_started")
               for d, c in deps.items()}
        check(got == want, f"{w}: depends_on {got}, README says {want}")
        for dep, cond in got.items():
            check(dep in services, f"{w}: depends on unknown service {dep}")
            if cond == "service_healthy" and dep in services:
                check(healthcheck_text(services[dep].get("healthcheck")),
                      f"{w}: waits for {dep} healthy, which has no healthcheck")
            if cond == "service_completed_successfully" and dep in services:
                check(str(services[dep].get("restart", "no")) == "no",
                      f"{w}: waits for {dep} to complete, whose restart is "
                      "not \"no\"")
        want_hc = strip_code(row["health check"])
        hc = healthcheck_text(svc.get("healthcheck"))
        if want_hc == "none":
            check(hc is None, f"{w}: has a health check, README says none")
        else:
            check(hc is not None and want_hc in hc,
                  f"{w}: health check {hc!r} does not contain {want_hc!r}")
        # orderflow containers: their settings
        if image == "built":
            raw_env = as_env(svc.get("environment"))
            # secrets: required from the environment, never a default
            for k in ("ORDERFLOW_AUTH_JWT_KEY", "ORDERFLOW_AUTH_JWT_KEYS"):
                if k in raw_env:
                    check(re.fullmatch(r"\$\{%s:\?[^}]+\}" % k, raw_env[k]),
                          f"{w}: {k} must be ${{{k}:?message}} (fail loudly "
                          "when unset), not " + repr(raw_env[k]))
            if "orderflow-api" in command_text(svc.get("command")):
                check("ORDERFLOW_AUTH_JWT_KEY" in raw_env,
                      f"{w}: the API has no ORDERFLOW_AUTH_JWT_KEY")
            env = {k: interpolate(v, w) for k, v in raw_env.items()}
            check_env_names(w, env, settings)
            for argv in program_argv(svc.get("command")):
                settings.check_config(w, argv, env)
                grace = svc.get("stop_grace_period")
                if argv[0] == "orderflow-api":
                    need = drain_api_s(settings, env)
                elif argv[0] == "orderflow-worker":
                    need = drain_worker_s(settings, env)
                else:
                    continue
                check(grace and parse_duration(grace) >= need,
                      f"{w}: stop_grace_period {grace!r} is shorter than its "
                      f"drain ({need} s)")
            if "orderflow-api" in command_text(svc.get("command")):
                check(env.get("ORDERFLOW_API_LISTEN_ADDRESS") == "0.0.0.0" or
                      "ORDERFLOW_API_LISTEN_ADDRESS" not in env,
                      f"{w}: the API must listen on 0.0.0.0 in a container")
            partitions = int(settings.effective(env, "topics", "partitions"))
            if "--role commands" in command_text(svc.get("command")):
                check(replicas <= partitions,
                      f"{w}: {replicas} command workers for {partitions} "
                      "partitions")
    # KRaft, one node
    kafka = as_env((services.get("kafka") or {}).get("environment"))
    for k, v in {"KAFKA_PROCESS_ROLES": "broker,controller",
                 "KAFKA_NODE_ID": "1",
                 "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
                 "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@kafka:9093"}.items():
        check(kafka.get(k) == v, f"{where}: kafka {k} is {kafka.get(k)!r}, "
                                 f"not {v!r}")
    check("kafka:9092" in kafka.get("KAFKA_ADVERTISED_LISTENERS", ""),
          f"{where}: kafka must advertise kafka:9092 to the other containers")
    check(re.fullmatch(r"apache/kafka:4\.\d+\.\d+",
                       str((services.get("kafka") or {}).get("image"))),
          f"{where}: kafka must be an apache/kafka 4.x image")
    mysql = as_env((services.get("mysql") or {}).get("environment"))
    for k in ("MYSQL_DATABASE", "MYSQL_USER", "MYSQL_PASSWORD"):
        check(k in mysql, f"{where}: mysql has no {k}")
    return services


def parse_duration(s):
    """compose durations: 30s, 1m30s, 45 (seconds)."""
    s = str(s)
    if s.isdigit():
        return int(s)
    total = 0
    for n, unit in re.findall(r"(\d+)(h|ms|m|s)", s):
        total += int(n) * {"h": 3600, "m": 60, "s": 1, "ms": 0.001}[unit]
    return total


# ---------------------------------------------------------------- k8s


def check_k8s(root, settings):
    kdir = os.path.join(root, "deploy", "k8s")
    kust = yaml.safe_load(open(os.path.join(kdir, "kustomization.yaml")))
    resources = kust.get("resources") or []
    listed = set(resources)
    for f in sorted(os.listdir(kdir)):
        if f.endswith(".yaml") and f != "kustomization.yaml":
            if f == "secret.example.yaml":
                check(f not in listed, "deploy/k8s/kustomization.yaml must "
                      "not list secret.example.yaml (the operator creates "
                      "the Secret)")
            else:
                check(f in listed, f"deploy/k8s/{f} is not in "
                                   "kustomization.yaml")
    objs = []
    for f in resources:
        p = os.path.join(kdir, f)
        if not check(os.path.isfile(p), f"deploy/k8s/kustomization.yaml "
                                        f"lists {f}, which does not exist"):
            continue
        for o in yaml.safe_load_all(open(p)):
            if o:
                check(o.get("kind") != "Secret",
                      f"deploy/k8s/{f}: a Secret in the kustomization")
                check("namespace" not in (o.get("metadata") or {}),
                      f"deploy/k8s/{f}: {o['metadata'].get('name')} sets a "
                      "namespace (the manifests are namespace-less)")
                objs.append((f, o))

    def of_kind(kind):
        return {o["metadata"]["name"]: (f, o) for f, o in objs
                if o.get("kind") == kind}

    deployments = of_kind("Deployment")
    configmaps = of_kind("ConfigMap")
    cm_env = {}
    for name, (f, cm) in configmaps.items():
        check_env_names(f"deploy/k8s/{f}: ConfigMap {name}",
                        cm.get("data") or {}, settings)
        cm_env[name] = {k: str(v) for k, v in (cm.get("data") or {}).items()}
    partitions = int(settings.effective(cm_env.get("orderflow-config", {}),
                                        "topics", "partitions"))
    rows = {r["deployment"]: r for r in doc_table(root, "k8s")}
    check(set(rows) == set(deployments),
          f"deploy/k8s: Deployments {sorted(deployments)} are not the "
          f"README's {sorted(rows)}")
    pods = dict(deployments)
    pods.update(of_kind("Job"))
    for name, (f, obj) in pods.items():
        w = f"deploy/k8s/{f}: {obj['kind']} {name}"
        spec = obj["spec"]
        tmpl = spec["template"]
        pod = tmpl["spec"]
        labels = (tmpl.get("metadata") or {}).get("labels") or {}
        if obj["kind"] == "Deployment":
            sel = (spec.get("selector") or {}).get("matchLabels") or {}
            check(sel and all(labels.get(k) == v for k, v in sel.items()),
                  f"{w}: selector {sel} does not match its pod labels")
        psc = pod.get("securityContext") or {}
        check(psc.get("runAsNonRoot") is True,
              f"{w}: pod securityContext.runAsNonRoot is not true")
        check(isinstance(psc.get("runAsUser"), int) and psc["runAsUser"] > 0,
              f"{w}: runAsUser must be a non-zero uid (the image's 10001)")
        for c in pod["containers"]:
            cw = f"{w} container {c['name']}"
            sc = c.get("securityContext") or {}
            check(sc.get("readOnlyRootFilesystem") is True,
                  f"{cw}: readOnlyRootFilesystem is not true")
            check(sc.get("allowPrivilegeEscalation") is False,
                  f"{cw}: allowPrivilegeEscalation is not false")
            check((sc.get("capabilities") or {}).get("drop") == ["ALL"],
                  f"{cw}: capabilities.drop is not [ALL]")
            res = c.get("resources") or {}
            for part in ("requests", "limits"):
                check(all(k in (res.get(part) or {}) for k in ("cpu", "memory")),
                      f"{cw}: resources.{part} lacks cpu or memory")
            # environment: the ConfigMap's, the secret references, its own
            env = {}
            for ef in c.get("envFrom") or []:
                ref = (ef.get("configMapRef") or {}).get("name")
                if ref:
                    check(ref in cm_env, f"{cw}: envFrom ConfigMap {ref} "
                                         "is not in the kustomization")
                    env.update(cm_env.get(ref, {}))
                check("secretRef" not in ef,
                      f"{cw}: secrets by secretKeyRef, not envFrom")
            for e in c.get("env") or []:
                vf = e.get("valueFrom") or {}
                if "secretKeyRef" in vf:
                    ref = vf["secretKeyRef"]
                    check(ref.get("name") == "orderflow-secrets",
                          f"{cw}: {e['name']} from Secret {ref.get('name')}, "
                          "not orderflow-secrets")
                    check(ref.get("key") in ("jwt-key", "mysql-password",
                                             "redis-password"),
                          f"{cw}: {e['name']} from unknown key "
                          f"{ref.get('key')}")
                    if not ref.get("optional"):
                        env[e["name"]] = DUMMY_SECRET
                else:
                    check("value" in e, f"{cw}: {e['name']} has no value")
                    env[e["name"]] = str(e.get("value", ""))
            check_env_names(cw, env, settings)
            argv_all = program_argv((c.get("command") or []) +
                                    (c.get("args") or []))
            check(argv_all, f"{cw}: no command or args")
            for argv in argv_all:
                settings.check_config(cw, argv, env)
            if argv_all and argv_all[0][0] == "orderflow-api":
                check(env.get("ORDERFLOW_API_LISTEN_ADDRESS") == "0.0.0.0",
                      f"{cw}: the API must listen on 0.0.0.0 in a pod")
                check(env.get("ORDERFLOW_AUTH_JWT_KEY") == DUMMY_SECRET,
                      f"{cw}: ORDERFLOW_AUTH_JWT_KEY must come from the "
                      "Secret orderflow-secrets")
            if obj["kind"] != "Deployment":
                continue
            row = rows.get(name)
            if not row:
                continue
            check(argv_all and " ".join(argv_all[0]) == strip_code(row["command"]),
                  f"{cw}: runs {argv_all}, README says {row['command']}")
            ports = {p.get("name"): p["containerPort"]
                     for p in c.get("ports") or []}

            def probe(kind, cell):
                p = (c.get(kind) or {}).get("httpGet")
                if not check(p, f"{cw}: no httpGet {kind}"):
                    return
                port = ports.get(p["port"], p["port"])
                got = f"{p.get('path')} :{port}"
                check(got == strip_code(cell),
                      f"{cw}: {kind} is {got}, README says {cell}")
                check(isinstance(port, int) and port in ports.values(),
                      f"{cw}: {kind} port {p['port']} is not a container port")

            probe("readinessProbe", row["readiness"])
            probe("livenessProbe", row["liveness"])
            grace = pod.get("terminationGracePeriodSeconds", 30)
            check(str(grace) == row["stop grace (s)"],
                  f"{w}: terminationGracePeriodSeconds {grace}, README says "
                  f"{row['stop grace (s)']}")
            pre = 0
            ps = ((c.get("lifecycle") or {}).get("preStop") or {}).get("exec")
            if ps and ps.get("command", [""])[0] == "sleep":
                pre = int(ps["command"][1])
            if argv_all and argv_all[0][0] == "orderflow-api":
                need = drain_api_s(settings, env) + pre
            else:
                need = drain_worker_s(settings, env) + pre
            check(grace >= need, f"{w}: terminationGracePeriodSeconds {grace} "
                                 f"is shorter than its drain ({need} s)")
        if obj["kind"] == "Deployment" and name in rows:
            want = rows[name]["replicas"].split(" to ")[0]
            check(str(spec.get("replicas")) == want,
                  f"{w}: replicas {spec.get('replicas')}, README says {want}")
    # Services and PDBs select existing pods
    for kind in ("Service", "PodDisruptionBudget"):
        for name, (f, o) in of_kind(kind).items():
            w = f"deploy/k8s/{f}: {kind} {name}"
            sel = o["spec"].get("selector") or {}
            if kind == "PodDisruptionBudget":
                sel = sel.get("matchLabels") or {}
            hits = [d for d, (_, dep) in deployments.items()
                    if sel and all(dep["spec"]["template"]["metadata"]["labels"]
                                   .get(k) == v for k, v in sel.items())]
            check(len(hits) == 1,
                  f"{w}: selector {sel} matches Deployments {hits}, not one")
            if kind == "Service" and hits:
                c = deployments[hits[0]][1]["spec"]["template"]["spec"][
                    "containers"][0]
                names = {p.get("name") for p in c.get("ports") or []}
                nums = {p["containerPort"] for p in c.get("ports") or []}
                for p in o["spec"].get("ports") or []:
                    t = p.get("targetPort", p["port"])
                    check(t in names or t in nums,
                          f"{w}: targetPort {t} is not a port of {hits[0]}")
            if kind == "PodDisruptionBudget" and hits:
                spec = o["spec"]
                want = rows.get(hits[0], {}).get("pdb", "")
                got = " ".join(f"{k} {spec[k]}" for k in
                               ("minAvailable", "maxUnavailable") if k in spec)
                check(got == want,
                      f"{w}: {got!r}, README says {want!r} for {hits[0]}")
                if "minAvailable" in spec:
                    check(spec["minAvailable"] <
                          deployments[hits[0]][1]["spec"].get("replicas", 1),
                          f"{w}: minAvailable {spec['minAvailable']} leaves no "
                          f"pod of {hits[0]} evictable")
    pdb_for = set()
    for name, (f, o) in of_kind("PodDisruptionBudget").items():
        sel = o["spec"]["selector"]["matchLabels"]
        for d, (_, dep) in deployments.items():
            if all(dep["spec"]["template"]["metadata"]["labels"].get(k) == v
                   for k, v in sel.items()):
                pdb_for.add(d)
    for d in ("orderflow-api", "orderflow-worker-commands"):
        check(d in pdb_for, f"deploy/k8s: no PodDisruptionBudget for {d}")
    check(any(o["spec"].get("type", "ClusterIP") == "ClusterIP" and
              any(p["port"] == 8080 for p in o["spec"]["ports"])
              for _, o in of_kind("Service").values()
              if o["spec"].get("clusterIP") != "None"),
          "deploy/k8s: no ClusterIP Service on port 8080 for the API")
    # autoscaling: a KEDA ScaledObject or an HPA on an existing Deployment
    scalers = list(of_kind("ScaledObject").items()) + \
        list(of_kind("HorizontalPodAutoscaler").items())
    check(scalers, "deploy/k8s: no ScaledObject or HorizontalPodAutoscaler")
    for name, (f, o) in scalers:
        w = f"deploy/k8s/{f}: {o['kind']} {name}"
        spec = o["spec"]
        ref = spec["scaleTargetRef"]
        check(ref.get("kind", "Deployment") == "Deployment" and
              ref["name"] in deployments,
              f"{w}: targets {ref}, not a Deployment of the kustomization")
        hi = spec.get("maxReplicaCount", spec.get("maxReplicas"))
        lo = spec.get("minReplicaCount", spec.get("minReplicas"))
        check(hi is not None and hi <= partitions,
              f"{w}: max replicas {hi} exceeds the {partitions} partitions")
        check(lo is not None and lo >= 1 and lo <= hi,
              f"{w}: min replicas {lo} not in [1, {hi}]")
        row = rows.get(ref["name"])
        if row:
            check(row["replicas"] == f"{lo} to {hi}",
                  f"{w}: scales {lo} to {hi}, README says {row['replicas']}")
        if o["kind"] == "ScaledObject":
            for t in spec.get("triggers") or []:
                md = t.get("metadata") or {}
                check(t.get("type") == "kafka", f"{w}: trigger is not kafka")
                group = settings.effective(cm_env.get("orderflow-config", {}),
                                           "worker", "group_id")
                check(md.get("consumerGroup") == group,
                      f"{w}: consumerGroup {md.get('consumerGroup')}, the "
                      f"workers' group is {group}")
                check(str(md.get("lagThreshold", "")).isdigit(),
                      f"{w}: lagThreshold missing")
                check(md.get("bootstrapServers") ==
                      cm_env.get("orderflow-config", {}).get(
                          "ORDERFLOW_KAFKA_BOOTSTRAP_SERVERS"),
                      f"{w}: bootstrapServers differ from the ConfigMap's")
    check(of_kind("Job"), "deploy/k8s: no migrate Job")


# ---------------------------------------------------------------- Dockerfile


def dockerfile_instructions(path):
    """(INSTRUCTION, arguments) with continuations joined."""
    out, cur = [], ""
    for line in open(path):
        s = line.rstrip("\n")
        if not cur and (not s.strip() or s.lstrip().startswith("#")):
            continue
        if cur and s.lstrip().startswith("#"):
            continue
        if s.endswith("\\"):
            cur += s[:-1] + " "
            continue
        cur += s
        ins, _, args = cur.strip().partition(" ")
        out.append((ins.upper(), args.strip()))
        cur = ""
    return out


def check_dockerfile(root, settings):
    where = "deploy/docker/Dockerfile"
    path = os.path.join(root, "deploy", "docker", "Dockerfile")
    ins = dockerfile_instructions(path)
    stages = []
    for i, a in ins:
        if i == "FROM":
            stages.append({"from": a, "ins": []})
        elif stages:
            stages[-1]["ins"].append((i, a))
    if not check(len(stages) >= 2, f"{where}: not multi-stage"):
        return
    check(re.fullmatch(r"debian:12 AS \w+", stages[0]["from"], re.I),
          f"{where}: the build stage is {stages[0]['from']!r}, not debian:12")
    final = stages[-1]
    check(final["from"].split()[0] == "debian:12-slim",
          f"{where}: the runtime stage is {final['from']!r}, not debian:12-slim")
    fin = final["ins"]
    users = [a for i, a in fin if i == "USER"]
    check(users and users[-1].split(":")[0] not in ("root", "0"),
          f"{where}: the runtime stage does not end as a non-root USER")
    hc = [a for i, a in fin if i == "HEALTHCHECK"]
    check(hc and "http://127.0.0.1:8080/healthz" in hc[-1] and "curl" in hc[-1],
          f"{where}: no HEALTHCHECK curl of http://127.0.0.1:8080/healthz")
    expose = " ".join(a for i, a in fin if i == "EXPOSE").split()
    check({"8080", "9100"} <= set(expose), f"{where}: EXPOSE {expose}, not "
                                           "8080 and 9100")
    cmd = [a for i, a in fin if i == "CMD"]
    check(cmd and "orderflow-api" in cmd[-1] and "orderflow-worker" not in cmd[-1],
          f"{where}: the default CMD is not orderflow-api")
    envs = " ".join(a for i, a in fin if i == "ENV")
    check(re.search(r"\bORDERFLOW_API_LISTEN_ADDRESS=0\.0\.0\.0\b", envs),
          f"{where}: no ENV ORDERFLOW_API_LISTEN_ADDRESS=0.0.0.0")
    for name in re.findall(r"\b(ORDERFLOW_\w+)=", envs):
        check(settings.known(name), f"{where}: ENV {name} is not a setting")
    copies = " ".join(a for i, a in fin if i == "COPY")
    for b in ("orderflow-api", "orderflow-worker", "orderflowctl"):
        check(re.search(r"/%s(\s|$)" % b, copies),
              f"{where}: the runtime stage does not copy {b}")
    check("/etc/orderflow/" in copies and "orderflow.ini" in copies,
          f"{where}: config/orderflow.ini is not copied to /etc/orderflow/")
    build_runs = " ".join(a for i, a in stages[0]["ins"] if i == "RUN")
    check("cmake --install" in build_runs,
          f"{where}: the build stage does not `cmake --install`")
    check("-DOF_BUILD_TESTS=OFF" in build_runs and
          "-DCMAKE_BUILD_TYPE=RelWithDebInfo" in build_runs,
          f"{where}: the build is not RelWithDebInfo without tests")
    check("-DOF_FAULTS=ON" not in build_runs,
          f"{where}: fault points compiled into the image")
    # build context = the repository root: every COPY source exists there
    for st in stages:
        for i, a in st["ins"]:
            if i in ("COPY", "ADD") and "--from" not in a:
                parts = [p for p in shlex.split(a) if not p.startswith("--")]
                for src in parts[:-1]:
                    check(os.path.exists(os.path.join(root, src)),
                          f"{where}: COPY {src}: not in the repository root "
                          "(the build context)")
    # packages: the build stage's -dev ones are install-deps.sh's; the
    # runtime stage has none
    deps = open(os.path.join(root, "deploy", "local", "install-deps.sh")).read()
    listed = set(re.findall(r"[a-z0-9][a-z0-9.+-]*-dev\b", deps))

    def apt_packages(runs):
        pk = set()
        for m in re.finditer(r"apt-get install ([^&;]*)", runs):
            pk |= {p for p in m.group(1).split() if not p.startswith("-")}
        return pk

    build_pk = apt_packages(build_runs)
    for p in sorted(x for x in build_pk if x.endswith("-dev")):
        check(p in listed, f"{where}: build package {p} is not one of "
                           "deploy/local/install-deps.sh's")
    for p in sorted(listed - {"libcmocka-dev", "libclang-rt-14-dev"}):
        check(p in build_pk, f"{where}: the build stage lacks {p} "
                             "(deploy/local/install-deps.sh lists it)")
    run_pk = apt_packages(" ".join(a for i, a in fin if i == "RUN"))
    check(run_pk, f"{where}: the runtime stage installs no package")
    check(not any(p.endswith("-dev") for p in run_pk),
          f"{where}: -dev packages in the runtime stage")
    check("curl" in run_pk, f"{where}: no curl for the HEALTHCHECK")
    # the libraries the binaries link come from the runtime's packages
    if settings.bin_dir and shutil.which("readelf") and shutil.which("dpkg"):
        needed = set()
        for b in ("orderflow-api", "orderflow-worker", "orderflowctl"):
            out = subprocess.run(["readelf", "-d",
                                  os.path.join(settings.bin_dir, b)],
                                 capture_output=True, text=True).stdout
            needed |= set(re.findall(r"\(NEEDED\).*\[(.+?)\]", out))
        if any(n.startswith(("libasan", "libubsan")) for n in needed):
            return  # a sanitizer build links more than the image has
        for so in sorted(needed):
            r = subprocess.run(["dpkg", "-S", "*/" + so], capture_output=True,
                               text=True)
            owners = {l.split(":")[0] for l in r.stdout.splitlines()
                      if "-dev" not in l.split(":")[0]}
            check(owners & (run_pk | {"libc6", "libgcc-s1"}),
                  f"{where}: {so} (from {sorted(owners) or '?'}) is not "
                  "installed by the runtime stage")


# ---------------------------------------------------------------- systemd

HARDENING = {
    "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
    "PrivateTmp": "yes", "PrivateDevices": "yes",
    "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes", "ProtectControlGroups": "yes",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    "CapabilityBoundingSet": "", "SystemCallFilter": "@system-service",
    "MemoryDenyWriteExecute": "yes", "LockPersonality": "yes",
    "RestrictNamespaces": "yes", "KillSignal": "SIGTERM",
    "ExecReload": "/bin/kill -HUP $MAINPID",
    "EnvironmentFile": "-/etc/orderflow/orderflow.env",
}


def unit_directives(path):
    """{section: {key: [values...]}}"""
    out, sec = {}, None
    for line in open(path):
        s = line.strip()
        if not s or s.startswith(("#", ";")):
            continue
        m = re.fullmatch(r"\[(\w+)\]", s)
        if m:
            sec = out.setdefault(m.group(1), {})
            continue
        k, _, v = s.partition("=")
        sec.setdefault(k.strip(), []).append(v.strip())
    return out


def installed_binaries(root):
    """Names installed by CMakeLists.txt's install(TARGETS ... RUNTIME
    DESTINATION ${CMAKE_INSTALL_BINDIR}), i.e. to PREFIX/bin."""
    text = open(os.path.join(root, "CMakeLists.txt")).read()
    names = set()
    for m in re.finditer(r"install\(TARGETS([^)]*)\)", text):
        body = m.group(1)
        if "RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}" in " ".join(body.split()):
            names |= set(body.split("RUNTIME")[0].split())
    return names


def check_systemd(root, settings):
    sdir = os.path.join(root, "deploy", "systemd")
    rows = doc_table(root, "systemd")
    units = sorted(f for f in os.listdir(sdir) if f.endswith(".service"))
    check(units == sorted(r["unit"] for r in rows),
          f"deploy/systemd: units {units} are not the README's "
          f"{sorted(r['unit'] for r in rows)}")
    bins = installed_binaries(root)
    # README: installed with --prefix /usr
    readme = open(os.path.join(root, "deploy", "README.md")).read()
    check("cmake --install build --prefix /usr" in readme,
          "deploy/README.md: the install step is not --prefix /usr")
    for row in rows:
        f = row["unit"]
        p = os.path.join(sdir, f)
        w = f"deploy/systemd/{f}"
        if not check(os.path.isfile(p), f"{w}: missing"):
            continue
        d = unit_directives(p)
        svc = d.get("Service", {})
        for k, v in HARDENING.items():
            check(v in svc.get(k, []), f"{w}: no {k}={v}")
        check(svc.get("DynamicUser") == ["yes"] or svc.get("User"),
              f"{w}: neither DynamicUser=yes nor User=")
        check(svc.get("User", ["root"])[0] not in ("root", "0"),
              f"{w}: runs as root")
        check("WantedBy" in d.get("Install", {}), f"{w}: no [Install] WantedBy")
        start = svc.get("ExecStart", [""])
        check(len(start) == 1 and start[0] == strip_code(row["execstart"]),
              f"{w}: ExecStart {start}, README says {row['execstart']}")
        argv = shlex.split(start[0])
        m = re.fullmatch(r"/usr/bin/([\w-]+)", argv[0])
        check(m and m.group(1) in bins,
              f"{w}: {argv[0]} is not a binary CMakeLists.txt installs to "
              f"/usr/bin (install(TARGETS): {sorted(bins)})")
        if "--config" in argv:
            check(argv[argv.index("--config") + 1] ==
                  "/etc/orderflow/orderflow.ini",
                  f"{w}: --config is not /etc/orderflow/orderflow.ini")
        timeout = int(svc.get("TimeoutStopSec", ["0"])[0].rstrip("s"))
        check(str(timeout) == row["stop timeout (s)"],
              f"{w}: TimeoutStopSec {timeout}, README says "
              f"{row['stop timeout (s)']}")
        env = {}
        if argv[0].endswith("orderflow-api"):
            need = drain_api_s(settings, env)
            settings.check_config(w, ["orderflow-api"], env)
        else:
            need = drain_worker_s(settings, env)
            check("--role" in argv and argv[argv.index("--role") + 1] == "%i",
                  f"{w}: the instance is not the role (--role %i)")
            for role in ("commands", "outbox"):
                settings.check_config(f"{w} ({role})",
                                      ["orderflow-worker", "--role", role], env)
        check(timeout >= need, f"{w}: TimeoutStopSec {timeout} is shorter "
                               f"than the drain ({need} s)")
    # two worker instances on one host need two metrics ports
    ports = {"commands": int(settings.default("worker", "metrics_port"))}
    drop = os.path.join(sdir, "orderflow-worker@outbox.service.d")
    ports["outbox"] = ports["commands"]
    if os.path.isdir(drop):
        for f in os.listdir(drop):
            for v in unit_directives(os.path.join(drop, f)).get(
                    "Service", {}).get("Environment", []):
                m = re.fullmatch(r"ORDERFLOW_WORKER_METRICS_PORT=(\d+)", v)
                if m:
                    ports["outbox"] = int(m.group(1))
                else:
                    name = v.split("=")[0]
                    check(settings.known(name),
                          f"deploy/systemd: {name} is not a setting")
    check(ports["outbox"] != ports["commands"],
          "deploy/systemd: orderflow-worker@commands and @outbox would both "
          f"serve /metrics on {ports['commands']}")
    ex = os.path.join(sdir, "orderflow.env.example")
    if os.path.isfile(ex):
        for line in open(ex):
            m = re.match(r"#?\s*(ORDERFLOW_\w+)=", line)
            if m:
                check(settings.known(m.group(1)),
                      f"deploy/systemd/orderflow.env.example: {m.group(1)} "
                      "is not a setting")
                check(m.group(1) != "ORDERFLOW_WORKER_METRICS_PORT",
                      "deploy/systemd/orderflow.env.example: the metrics "
                      "port would override both worker instances'")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    args = ap.parse_args()
    root = os.path.abspath(args.root)
    bin_dir = os.environ.get("ORDERFLOW_BIN_DIR") or None
    if bin_dir and not os.access(os.path.join(bin_dir, "orderflow-api"),
                                 os.X_OK):
        print(f"check_deploy: no orderflow-api in ORDERFLOW_BIN_DIR={bin_dir}",
              file=sys.stderr)
        return 1
    settings = Settings(root, bin_dir)
    for part in (check_compose, check_k8s, check_dockerfile, check_systemd):
        try:
            part(root, settings)
        except Exception as e:  # a file too broken to walk is a failure
            check(False, f"{part.__name__}: {type(e).__name__}: {e}")
    for f in FAILURES:
        print("FAIL", f)
    mode = f"binaries of {bin_dir}" if bin_dir else "config/orderflow.ini"
    print(f"check_deploy: {CHECKS - len(FAILURES)}/{CHECKS} checks passed "
          f"(settings from {mode})")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
