# attack: a 4 GiB bytearray
# layers: all
# mode: warm external
# lib: tryit
# requires: no-sanitizer
# expect: kind = memory_limit

a = bytearray(4 << 30)
