"""Load average and process counts from /proc/loadavg."""

from datakit_framework import DataKitFramework


class LoadAvg(DataKitFramework):
    name = "loadavg"
    interval = 5

    def run(self):
        with open("/proc/loadavg") as f:
            load1, load5, load15, procs, _last_pid = f.read().split()
        running, total = procs.split("/")
        return self.feed_metric(
            measurement="system_load",
            tags={"source": "proc"},
            fields={
                "load1": float(load1),
                "load5": float(load5),
                "load15": float(load15),
                "procs_running": int(running),
                "procs_total": int(total),
            },
        )
