# attack: a forged ok REPLY and a RESULT that is not JSON: NUL in a string
# layers: all
# mode: warm external
# lib: forge
# expect: kind != ok

# The runner checks that the result and the outcome it hands out are JSON.
reply({'status': 'ok'})
frame(RESULT, b'"a\x00b"')
time.sleep(0.2)
