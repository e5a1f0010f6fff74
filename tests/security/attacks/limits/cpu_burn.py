# attack: a busy loop past the CPU limit
# layers: all
# mode: warm external
# lib: tryit
# timeout_ms: 20000
# cpu_s: 1
# expect: kind = cpu_limit

while True:
    pass
