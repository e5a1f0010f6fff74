# Prepended to an attack on the reply channel (lib: forge): frame(type,
# payload[, announced length]) writes a frame of the child's protocol on fd 3.
import os, struct, json, base64, time
REPLY, RESULT, FIGR = 0x52504c59, 0x52534c54, 0x46494752
def put(b, fd=3):
    v = memoryview(b)
    while len(v):
        v = v[os.write(fd, v):]
def frame(t, p, n=None):
    if isinstance(p, str):
        p = p.encode()
    put(struct.pack('=IIQ', t, 0, len(p) if n is None else n) + p)
def reply(doc):
    frame(REPLY, json.dumps(doc))
