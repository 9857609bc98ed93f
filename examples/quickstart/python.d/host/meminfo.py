"""Memory figures from /proc/meminfo, in bytes."""

from datakit_framework import DataKitFramework

WANTED = {
    "MemTotal": "total",
    "MemFree": "free",
    "MemAvailable": "available",
    "Buffers": "buffers",
    "Cached": "cached",
    "SwapTotal": "swap_total",
    "SwapFree": "swap_free",
}


class MemInfo(DataKitFramework):
    name = "meminfo"
    interval = 5

    def run(self):
        fields = {}
        with open("/proc/meminfo") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in WANTED:
                    value = rest.split()
                    fields[WANTED[key]] = int(value[0]) * (1024 if value[1:] == ["kB"] else 1)
        if fields.get("total"):
            fields["used_percent"] = 100.0 * (1 - fields.get("available", 0) / fields["total"])
        return self.feed_metric(measurement="mem", fields=fields)
