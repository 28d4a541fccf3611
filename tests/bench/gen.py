#!/usr/bin/env python3
"""Generates a manifest repository of N tenants for the benchmarks.

Each tenant has two environments (staging, production) of three apps
(api, web, worker): a network, a database, a bucket on production, the
apps' services, routes and DNS records (public, private for the api, one
alias for web), with tiers mixed basic/standard/premium.  Every tenant is
valid and distinct, so the repository loads and validates whole.

usage: gen.py N DIR [--touch K | --restore K]
  --touch K    rewrite only tenant K, moved to another tier
  --restore K  rewrite only tenant K, back to its own tier
"""
import os
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


def main():
    n, out = int(sys.argv[1]), sys.argv[2]
    flag = sys.argv[3] if len(sys.argv) > 4 else None
    touch = int(sys.argv[4]) if flag in ("--touch", "--restore") else None
    here = os.path.dirname(os.path.abspath(__file__))
    example = os.path.join(here, "..", "..", "deploy", "examples", "tenants-repo")
    os.makedirs(os.path.join(out, "tenants"), exist_ok=True)
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
