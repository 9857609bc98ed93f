"""CPU busy percentage per CPU, from two readings of /proc/stat one run apart."""

from datakit_framework import DataKitFramework


def read_stat():
    cpus = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu"):
                parts = line.split()
                values = [int(v) for v in parts[1:]]
                idle = values[3] + (values[4] if len(values) > 4 else 0)
                cpus[parts[0]] = (sum(values), idle)
    return cpus


class CpuStat(DataKitFramework):
    name = "cpustat"
    interval = 5

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.previous = read_stat()

    def run(self):
        current = read_stat()
        for cpu, (total, idle) in current.items():
            prev_total, prev_idle = self.previous.get(cpu, (0, 0))
            elapsed = total - prev_total
            if elapsed <= 0:
                continue
            self.feed_metric(
                measurement="cpu",
                tags={"cpu": "cpu-total" if cpu == "cpu" else cpu},
                fields={"usage_percent": 100.0 * (elapsed - (idle - prev_idle)) / elapsed},
            )
        self.previous = current
