"""The line-protocol corpus shared by bench/ingest/ingest.py and bench/store/store.py (Python 3
stdlib only), which import it after putting bench/ first on sys.path.

10,000 series = 5 measurements x 2,000 hosts; 8 tags of realistic length (sorted), 4 to 6
fields mixing float, `i` integer, string and bool; ns timestamps from 2024-01-01; ~260 B a
line. Everything is drawn from seeded random.Random instances, so a seed gives the same bytes.

  make_hosts(rng)                     the fleet: N_HOSTS tag sets
  series(hosts)                       the 10,000 (measurement, tag text) pairs, host-major
  make_body(rng, hosts, lines)        `lines` random (series, fields), 1-20 ms apart (ingest)
  series_offsets(rng, n)              a fixed sub-second offset per series (store)
  make_round(rng, series, offsets, k) round k: every series once at BASE_NS + k*10 s + its
                                      offset (store)
  field_count(name)                   fields per line of a measurement
"""

import random

BASE_NS = 1_704_067_200 * 10**9  # 2024-01-01T00:00:00Z; fixed so the corpus is byte-stable
N_HOSTS = 2000
ROUND_NS = 10 * 10**9  # store corpus: rounds are 10 s apart

REGIONS = {
    "us-east-1": "iad", "us-west-2": "pdx", "eu-west-1": "dub", "ap-southeast-1": "sin",
}
SERVICES = [
    "api-gateway", "auth", "billing", "checkout", "search", "catalog", "cart", "payments",
    "inventory", "shipping", "notifications", "recommendations", "profile", "orders",
    "pricing", "reviews", "media", "analytics", "ingest", "scheduler", "mailer", "ledger",
    "frontend", "session",
]
TEAMS = ["core", "growth", "payments", "platform", "search", "data", "sre", "mobile",
         "identity", "commerce"]
ENVS = ["prod"] * 6 + ["staging"] * 3 + ["dev"]


def make_hosts(rng, n=N_HOSTS):
    hosts = []
    regions = sorted(REGIONS)
    for i in range(n):
        region = rng.choice(regions)
        az = region + rng.choice("abc")
        dc = REGIONS[region] + str(rng.randint(1, 2))  # 8 values over 4 regions (6-8 in use)
        rack = "%s-r%02d" % (dc, rng.randint(1, 8))     # ~60
        service = rng.choice(SERVICES)
        hosts.append({
            "az": az, "dc": dc, "env": rng.choice(ENVS),
            "host": "%s-%04d.%s.internal" % (service, i, region),
            "rack": rack, "region": region, "service": service, "team": rng.choice(TEAMS),
        })
    return hosts


def f_float(rng, lo, hi, digits=None):
    x = rng.uniform(lo, hi)
    return repr(round(x, digits) if digits is not None else x)


def f_int(rng, lo, hi):
    return "%di" % rng.randint(lo, hi)


def f_str(rng, values):
    v = rng.choice(values)
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'


def f_bool(rng, p_true=0.5):
    return "true" if rng.random() < p_true else "false"


# Each measurement has a fixed field schema (InfluxDB rejects type changes within a shard):
# floats, `i` integers, one string and one bool; 4 to 6 fields (26 over the 5 measurements).
MEASUREMENTS = {
    "cpu": lambda r: [
        ("usage_user", f_float(r, 0, 100)), ("usage_system", f_float(r, 0, 40)),
        ("usage_idle", f_float(r, 0, 100, 2)), ("cores", f_int(r, 2, 96)),
        ("governor", f_str(r, ["performance", "powersave", "schedutil"])),
        ("throttled", f_bool(r, 0.05)),
    ],
    "mem": lambda r: [
        ("used", f_int(r, 1 << 30, 256 << 30)), ("available", f_int(r, 1 << 28, 128 << 30)),
        ("used_percent", f_float(r, 5, 99)), ("swap_enabled", f_bool(r, 0.3)),
        ("kind", f_str(r, ["ddr4", "ddr5", "ddr4 ecc"])),
    ],
    "disk": lambda r: [
        ("used", f_int(r, 0, 4 << 40)), ("used_percent", f_float(r, 0, 100, 3)),
        ("fstype", f_str(r, ["ext4", "xfs", "btrfs", "zfs"])), ("read_only", f_bool(r, 0.02)),
    ],
    "net": lambda r: [
        ("bytes_recv", f_int(r, 0, 1 << 44)), ("bytes_sent", f_int(r, 0, 1 << 44)),
        ("drop_rate", f_float(r, 0, 0.01)), ("iface", f_str(r, ["eth0", "ens5", "bond0"])),
        ("up", f_bool(r, 0.99)),
    ],
    "diskio": lambda r: [
        ("reads", f_int(r, 0, 1 << 36)), ("writes", f_int(r, 0, 1 << 36)),
        ("io_util", f_float(r, 0, 100, 2)), ("await_ms", f_float(r, 0, 50, 3)),
        ("scheduler", f_str(r, ["mq-deadline", "none", "bfq", "kyber"])),
        ("rotational", f_bool(r, 0.1)),
    ],
}


def tag_escape(v):
    return v.replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def tag_text(host):
    """The 8 tags of a host, sorted and escaped: `az=...,dc=...,...,team=...`."""
    return ",".join("%s=%s" % (k, tag_escape(host[k])) for k in sorted(host))


def fields(rng, name):
    """The field text of a line of measurement `name`, values drawn from rng."""
    return ",".join("%s=%s" % kv for kv in MEASUREMENTS[name](rng))


def field_count(name):
    """How many fields a line of measurement `name` has (fixed per measurement)."""
    return len(MEASUREMENTS[name](random.Random(0)))


def make_body(rng, hosts, lines):
    out = []
    names = sorted(MEASUREMENTS)
    ts = BASE_NS
    for _ in range(lines):
        name = rng.choice(names)
        h = rng.choice(hosts)
        f = fields(rng, name)
        ts += rng.randint(1_000_000, 20_000_000)  # 1-20 ms apart, full ns digits
        out.append("%s,%s %s %d" % (name, tag_text(h), f, ts))
    return ("\n".join(out) + "\n").encode()


def series(hosts):
    """Every (measurement, tag text): host-major, as one agent per host would send them."""
    names = sorted(MEASUREMENTS)
    return [(name, tag_text(h)) for h in hosts for name in names]


def series_offsets(rng, n):
    """A fixed offset per series within the first second of each round, full ns digits."""
    return [rng.randrange(10**9) for _ in range(n)]


def make_round(rng, all_series, offsets, k):
    """Round k: every series once at BASE_NS + k * ROUND_NS + its offset."""
    base = BASE_NS + k * ROUND_NS
    out = ["%s,%s %s %d" % (name, tags, fields(rng, name), base + off)
           for (name, tags), off in zip(all_series, offsets)]
    return ("\n".join(out) + "\n").encode()
