# attack: read /etc/shadow
# layers: all
# mode: warm external
# lib: tryit
# expect: kind = denied

result = open('/etc/shadow').read()
