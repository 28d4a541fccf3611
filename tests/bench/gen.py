#!/usr/bin/env python3
"""Generates a manifest repository of N tenants for the benchmarks.

By default every tenant is alike, so figures compare across N: two
environments (staging, production) of three apps (api, web, worker): a
network, a database, a bucket on production, the apps' services, routes
and DNS records (public, private for the api, one alias for web), with
tiers mixed basic/standard/premium.

With --varied the tenants differ, as a real customer base does, to check
the figures do not depend on that one shape: names are long and
hyphenated ("northwind-logistics-0042"), the tier catalog is the
repository's own (five tiers with other names and sizes), and each tenant
has one to four environments (dev, qa, staging, prod) of one to six apps,
with dependsOn chains, apps running elsewhere (an endpoint, so no
service), private records, several aliases, health checks, replicas, a
region, labels, buckets with versioning and deletion policies.

Either way every tenant is valid and distinct (networks, aliases), so
the repository loads and validates whole; the same N gives the same
files.

usage: gen.py N DIR [--touch K | --restore K | --varied]
  --touch K    rewrite only tenant K, moved to another tier
  --restore K  rewrite only tenant K, back to its own tier
  --varied     tenants of many shapes (above)
"""
import os
import random
import shutil
import sys

TIERS = ["basic", "standard", "premium"]


def tenant(i, tier):
    name = "t%05d" % i
    a, b = (i // 256) % 256, i % 256
    out = [f"""apiVersion: tenantd.io/v1
kind: Tenant
metadata:
  name: {name}
spec:
  tier: {tier}
  owner: ops@{name}.example
  environments:
"""]
    for e, env in enumerate(["staging", "production"]):
        out.append(f"""    - name: {env}
      network:
        cidr: {10 + e}.{a}.{b}.0/24
      database: {{}}
""")
        if env == "production":
            out.append("      bucket: {}\n")
        out.append("      apps:\n")
        for app in ["api", "web", "worker"]:
            out.append(f"""        - name: {app}
          image: registry.example/{app}:1.{i % 7}
          port: 8080
""")
            if app == "api":
                out.append("          dns: {public: true, private: true}\n")
            elif app == "web":
                out.append(f"""          dns:
            public: true
            aliases: [{env}.{name}.example]
""")
    return "".join(out)



WORDS = ["northwind", "contoso", "fabrikam", "tailspin", "wingtip", "adatum",
         "litware", "proseware", "woodgrove", "alpine", "blue-yonder",
         "coho", "fourth-coffee", "lucerne", "margie", "trey", "wide-world"]
KINDS = ["logistics", "health", "retail", "media", "bank", "labs", "energy",
         "travel", "school", "games"]
V_TIERS = ["starter", "team", "business", "scale", "dedicated"]
ENVS = ["dev", "qa", "staging", "prod"]
APPS = ["gateway", "orders", "billing", "search", "reports", "notify",
        "auth", "catalog"]
REGIONS = ["eu-west1", "us-east1", "ap-south1"]

V_TIERS_YAML = """apiVersion: tenantd.io/v1
kind: TierCatalog
metadata:
  name: bench-two
spec:
  tiers:
"""


def varied_tiers():
    out = [V_TIERS_YAML]
    for i, t in enumerate(V_TIERS):
        out.append(f"""    {t}:
      vm: n2-{t}
      cpu: {1 << i}
      memoryMiB: {1024 << i}
      storageGiB: {10 * (i + 1)}
      databaseClass: db-{t}
      databaseHA: {"true" if i >= 3 else "false"}
      maxUsers: {25 * (i + 1) * (i + 1)}
      backup: {{schedule: {"hourly" if i == 4 else "daily"}, retentionDays: {7 * (i + 1)}}}
      monthlyPrice: {19 * (i + 1) ** 2}
""")
    return "".join(out)


def name_of(i):
    w = WORDS[i % len(WORDS)]
    k = KINDS[(i // len(WORDS)) % len(KINDS)]
    return f"{w}-{k}-{i:05d}"


def app_block(rng, name, env, apps, k, i, e):
    app = apps[k]
    out = [f"        - name: {app}\n"]
    if rng.random() < 0.12:
        # Running elsewhere: no service, a route and records to its host.
        out.append(f"          endpoint: {app}.{env}.legacy.{name}.example:443\n")
    else:
        out.append(f"          image: registry.example/{app}:{rng.randint(1, 9)}."
                   f"{rng.randint(0, 20)}\n")
        out.append(f"          port: {8000 + k}\n")
        if rng.random() < 0.5:
            out.append(f"          replicas: {rng.randint(1, 6)}\n")
        if rng.random() < 0.6:
            out.append(f"          healthCheck: {{path: /{app}/health, "
                       f"intervalSeconds: {rng.choice([5, 10, 30])}}}\n")
        if k > 0 and rng.random() < 0.5:
            out.append(f"          dependsOn: [{apps[k - 1]}]\n")
    pub = rng.random() < 0.7
    priv = rng.random() < 0.5
    aliases = []
    if rng.random() < 0.35:
        aliases = [f"{app}{a}.{env}.{name}.example"
                   for a in range(rng.randint(1, 3))]
    if pub or priv or aliases:
        out.append(f"          dns:\n            public: {str(pub).lower()}\n"
                   f"            private: {str(priv).lower()}\n")
        if aliases:
            out.append(f"            aliases: [{', '.join(aliases)}]\n")
    return "".join(out)


def varied_tenant(i):
    rng = random.Random(i * 7919 + 13)
    name = name_of(i)
    envs = ENVS[4 - rng.randint(1, 4):]
    out = [f"""apiVersion: tenantd.io/v1
kind: Tenant
metadata:
  name: {name}
  labels:
    segment: {KINDS[i % len(KINDS)]}
    cohort: c{i % 12}
spec:
  displayName: {name.replace("-", " ").title()}
  tier: {V_TIERS[rng.randrange(len(V_TIERS))]}
  region: {REGIONS[i % len(REGIONS)]}
  owner: ops@{name}.example
  deletionPolicy: {"Delete" if rng.random() < 0.2 else "Orphan"}
  environments:
"""]
    for e, env in enumerate(envs):
        # 172.16.0.0/12 and 10.0.0.0/8, /27 each: unique per (tenant, env).
        n = i * 4 + ENVS.index(env)
        cidr = f"10.{(n >> 11) & 255}.{(n >> 3) & 255}.{(n & 7) << 5}/27"
        out.append(f"    - name: {env}\n      network:\n        cidr: {cidr}\n")
        if rng.random() < 0.8:
            out.append("      database: {}\n" if rng.random() < 0.7 else
                       "      database: {deletionPolicy: Delete}\n")
        if rng.random() < 0.5:
            out.append(f"      bucket: {{versioning: "
                       f"{str(rng.random() < 0.5).lower()}}}\n")
        apps = rng.sample(APPS, rng.randint(1, 6))
        out.append("      apps:\n")
        for k in range(len(apps)):
            out.append(app_block(rng, name, env, apps, k, i, e))
    return "".join(out)


def varied(n, out, example):
    with open(os.path.join(example, "platform.yaml")) as f:
        platform = f.read()
    with open(os.path.join(out, "platform.yaml"), "w") as f:
        f.write(platform)
    with open(os.path.join(out, "tiers.yaml"), "w") as f:
        f.write(varied_tiers())
    for i in range(n):
        with open(os.path.join(out, "tenants", name_of(i) + ".yaml"), "w") as f:
            f.write(varied_tenant(i))


def main():
    n, out = int(sys.argv[1]), sys.argv[2]
    flag = sys.argv[3] if len(sys.argv) > 3 else None
    touch = int(sys.argv[4]) if flag in ("--touch", "--restore") else None
    here = os.path.dirname(os.path.abspath(__file__))
    example = os.path.join(here, "..", "..", "deploy", "examples", "tenants-repo")
    os.makedirs(os.path.join(out, "tenants"), exist_ok=True)
    if flag == "--varied":
        varied(n, out, example)
        return
    for f in ("platform.yaml", "tiers.yaml"):
        shutil.copy(os.path.join(example, f), out)
    for i in range(n):
        if touch is not None and i != touch:
            continue
        tier = TIERS[i % 3]
        if flag == "--touch":
            tier = TIERS[(i + 1) % 3]
        with open(os.path.join(out, "tenants", "t%05d.yaml" % i), "w") as f:
            f.write(tenant(i, tier))


main()
