# attack: a result of 20 MiB
# layers: all
# mode: warm external
# lib: tryit
# expect: kind = output_limit

result = 'x' * (20 << 20)
