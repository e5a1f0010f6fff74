"""The Jupyter kernel through jupyter_client, side by side with ipykernel's
own kernel on the same machine (when python3-ipykernel is installed): the
start time (start_kernel until kernel_info answers) and the round trip of
cells (execute_request until its idle status), as p50 and p90.

    /usr/bin/python3.11 bench/kernel.py [PYSANDBOX] [--cells N] [--starts N]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from jupyter_client import KernelManager
from jupyter_client.kernelspec import KernelSpecManager

CELLS = {
    "trivial": "1 + 1",
    "pandas": "df.groupby('k').v.sum().to_dict()",
}
SETUP = ("import pandas as pd\n"
         "df = pd.DataFrame({'k': [i % 7 for i in range(10000)], 'v': range(10000)})")


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def measure(name, cells, starts):
    start_ms = []
    for _ in range(starts):
        t = time.perf_counter()
        km = KernelManager(kernel_name=name)
        km.start_kernel()
        kc = km.client()
        kc.start_channels()
        kc.wait_for_ready(timeout=120)
        start_ms.append((time.perf_counter() - t) * 1000)
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    km = KernelManager(kernel_name=name)
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=120)
    kc.execute_interactive(SETUP, timeout=120, output_hook=lambda m: None)
    rows = {"start": start_ms}
    for label, code in CELLS.items():
        times = []
        for _ in range(cells):
            t = time.perf_counter()
            r = kc.execute_interactive(code, timeout=120, output_hook=lambda m: None)
            times.append((time.perf_counter() - t) * 1000)
            assert r["content"]["status"] == "ok", r["content"]
        rows[label] = times
    kc.stop_channels()
    km.shutdown_kernel(now=True)
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pysandbox", nargs="?", default="build/pysandbox")
    ap.add_argument("--cells", type=int, default=200)
    ap.add_argument("--starts", type=int, default=5)
    a = ap.parse_args()
    prefix = tempfile.mkdtemp(prefix="psb-bench-kernel-")
    subprocess.run([os.path.abspath(a.pysandbox), "kernel", "install", "--prefix", prefix],
                   check=True, stdout=subprocess.DEVNULL)
    os.environ["JUPYTER_PATH"] = os.path.join(prefix, "share", "jupyter")
    kernels = ["pysandbox"]
    if "python3" in KernelSpecManager().find_kernel_specs():
        kernels.append("python3")
    else:
        print("ipykernel's python3 kernelspec not found: pysandbox alone", file=sys.stderr)
    results = {k: measure(k, a.cells, a.starts) for k in kernels}
    print(f"{'kernel':<12} {'what':<8} {'p50 ms':>9} {'p90 ms':>9} {'vs ipykernel':>13}")
    for k in kernels:
        for what, xs in results[k].items():
            ratio = ""
            if "python3" in results and k != "python3":
                ratio = "%.2fx" % (statistics.median(xs) / statistics.median(results["python3"][what]))
            print(f"{k:<12} {what:<8} {pct(xs, 0.5):>9.2f} {pct(xs, 0.9):>9.2f} {ratio:>13}")


if __name__ == "__main__":
    main()
