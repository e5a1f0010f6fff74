# attack: read /etc/shadow
# layers: all
# lib: tryit
# expect: kind = denied

result = open('/etc/shadow').read()
