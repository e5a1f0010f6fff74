"""pysandbox-bench --speed-only from outside: every line it promises is there (the
module layer rows too) and holds real measurements (never a judgement of how fast
they are)."""
import json
import os
import subprocess
import unittest

BENCH = os.environ["PSB_BENCH"]


class SpeedRows(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        run = subprocess.run([BENCH, "--speed-only", "--quick", "--json"], capture_output=True,
                             text=True, timeout=540)
        if run.returncode != 0:
            raise AssertionError(f"the bench failed ({run.returncode}):\n{run.stderr[-4000:]}")
        cls.doc = json.loads(run.stdout)
        cls.lines = cls.doc["speed_rows"]
        cls.table = run.stderr

    def line(self, what, how):
        found = [x for x in self.lines if x["what"] == what and x["how"].startswith(how)]
        self.assertEqual(len(found), 1, f"{what} / {how} in {self.lines}")
        return found[0]

    def test_floors_measured_in_the_run(self):
        small = [x for x in self.lines if x["how"].endswith("touched, 4 KiB pages")]
        huge = [x for x in self.lines if x["how"].endswith("touched, MADV_HUGEPAGE")]
        self.assertEqual(len(small), 1)
        self.assertEqual(len(huge), 1)
        small = small[0]
        for x in (small, huge[0], self.line("floor: pipe round trip", "")):
            self.assertGreater(x["n"], 100)
            self.assertGreater(x["p50_ms"], 0)
            self.assertLessEqual(x["p50_ms"], x["p90_ms"])
        # The floors are as large as the helper: its touched memory, in MiB.
        mib = int(small["how"].split()[0])
        self.assertGreater(mib, 10)

    def test_latency_rows_with_ratios(self):
        for what in ("trivial", "pandas-groupby"):
            sub = self.line(what, "fresh python3.11")
            b2b = self.line(what, "back to back")
            self.assertGreater(sub["p50_ms"], 0)
            self.assertGreater(b2b["p50_ms"], 0)
            self.assertIn("faster than a fresh interpreter", b2b["vs"])
            paced = [x for x in self.lines if x["what"] == what and "between requests" in x["how"]]
            self.assertEqual(len(paced), 1)
            self.assertIn("huge-page fork floor", paced[0]["vs"])

    def test_throughput_on_one_and_two_cpus(self):
        for cpus in ("1 CPU,", "2 CPUs,"):
            for threads in (1, 2, 4, 8):
                unit = "thread" if threads == 1 else "threads"
                x = self.line("throughput", f"{cpus} {threads} host {unit}")
                self.assertGreater(x["per_s"], 0)
                self.assertIn("% of the huge-page floor", x["vs"])

    def test_memory_in_flight(self):
        mem = self.doc["speed_memory"]
        self.assertEqual(mem["in_flight"], 16)
        self.assertGreater(mem["helper_pss_kib"], 1024)
        # 16 executions ran at once: the tree grew by their memory.
        self.assertGreater(mem["in_flight_tree_pss_kib"], mem["idle_tree_pss_kib"])
        x = [x for x in self.lines if x["what"].startswith("memory")]
        self.assertEqual(len(x), 1)
        self.assertIn("16 in flight (17 processes)", x[0]["vs"])

    def test_layer_rows(self):
        install = self.line("layer install", "Debian's pip, setuptools, wheel wheels")
        self.assertGreaterEqual(install["n"], 2)
        self.assertGreater(install["p50_ms"], 0)
        # The preloaded row exists only if the helper could import from the layer before forking.
        preloaded = self.line("layer import", "warm, pip._vendor.rich.console preloaded")
        for how in ("warm, import pip._vendor.rich.console from a layer",
                    "warm, import pip._vendor.rich.console from Debian's"):
            x = self.line("layer import", how)
            self.assertGreater(x["p50_ms"], 0)
            self.assertIn("x the preloaded row", x["vs"])
        self.assertGreater(preloaded["p50_ms"], 0)

    def test_external_engine_rows(self):
        for what in ("trivial", "pandas-groupby"):
            ext = self.line(what, "external engine (python3.11)")
            self.assertGreater(ext["p50_ms"], 0)
            self.assertIn("a fresh interpreter's time", ext["vs"])
            self.assertGreater(self.line(what, "same run: warm engine, back to back")["p50_ms"], 0)
            self.assertGreater(self.line(what, "same run: fresh python3.11 -I -c")["p50_ms"], 0)

    def test_table_printed(self):
        self.assertIn("speed", self.table)
        self.assertIn("floor: fork+exit", self.table)


if __name__ == "__main__":
    unittest.main()
