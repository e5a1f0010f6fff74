# attack: a forged ok REPLY with result 42, then an exception
# layers: all
# mode: warm external
# lib: forge
# expect: kind != ok
# expect: result_json != "42"

reply({'status': 'ok'})
frame(RESULT, '42')
raise ValueError('the real outcome')
