# attack: read the secret through a relative path with ..
# layers: all
# mode: warm external
# lib: tryit
# expect: kind = denied

rel = os.path.relpath(inputs['secret'], os.getcwd())
assert rel.startswith('..'), rel
result = open(rel).read()
