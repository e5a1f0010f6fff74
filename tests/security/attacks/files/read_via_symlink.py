# attack: read the secret through a symlink in the scratch dir
# layers: all
# mode: warm external
# lib: tryit
# expect: kind = denied

os.symlink(inputs['secret'], 'link')
result = open('link').read()
