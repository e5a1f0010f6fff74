# attack: a list that grows by 8 MiB until something gives
# layers: all
# mode: warm external
# lib: tryit
# requires: no-sanitizer
# memory_mib: 128
# expect: kind = memory_limit

a = []
while True:
    a.append(bytearray(8 << 20))
