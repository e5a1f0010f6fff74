# attack: an error reply carrying made-up usage
# layers: all
# mode: warm external
# lib: forge
# expect: stats.cpu_ms != 123456789
# expect: stats.peak_rss_kib != 987654321
# expect: outcome excludes "123456789"
# expect: outcome excludes "987654321"

# The statistics come from the kernel, never from the child; the runner
# also bounds every outcome's cpu_ms by wall time and peak_rss_kib by MemTotal.
reply({'status': 'error', 'error': {'kind': 'exception', 'message': 'm'},
       'usage': {'cpu_ms': 123456789, 'maxrss_kib': 987654321},
       'stats': {'wall_ms': 1, 'cpu_ms': 123456789, 'peak_rss_kib': 987654321}})
frame(RESULT, 'null')
raise ValueError('x')
