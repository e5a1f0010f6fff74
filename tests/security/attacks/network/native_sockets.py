# attack: TCP, TCP6, UDP, unix, abstract, netlink, raw, packet and vsock sockets through libc
# layers: all
# mode: warm external
# via: bypass
# lib: tryit libc
# expect: kind = ok
# expect: result.tcp = {"ret": -1, "errno": "EPERM"}
# expect: result.tcp6 = {"ret": -1, "errno": "EPERM"}
# expect: result.udp = {"ret": -1, "errno": "EPERM"}
# expect: result.unix = {"ret": -1, "errno": "EPERM"}
# expect: result.unix_dgram = {"ret": -1, "errno": "EPERM"}
# expect: result.abstract = {"ret": -1, "errno": "EPERM"}
# expect: result.netlink = {"ret": -1, "errno": "EPERM"}
# expect: result.raw = {"ret": -1, "errno": "EPERM"}
# expect: result.packet = {"ret": -1, "errno": "EPERM"}
# expect: result.vsock = {"ret": -1, "errno": "EPERM"}
# expect: result.socketpair.ret = 0

r = {}
def sock(key, fam, typ, proto, target=None):
    c = call(libc.socket, fam, typ, proto)
    r[key] = c
    if c['ret'] >= 0 and target is not None:
        r[key + '_connect'] = call(libc.connect, c['ret'], target, len(target))
sock('tcp', 2, 1, 0, sa_in(inputs['port']))
sock('tcp6', 10, 1, 0)
sock('udp', 2, 2, 0)
sock('unix', 1, 1, 0, sa_un(inputs['unix_path'].encode()))
sock('unix_dgram', 1, 2, 0)
sock('abstract', 1, 1, 0, sa_un(b'\0' + inputs['abstract'].encode()))
sock('netlink', 16, 3, 0)
sock('raw', 2, 3, 1)
sock('packet', 17, 3, 0x0300)
sock('vsock', 40, 1, 0)
if r['udp']['ret'] >= 0:
    d = sa_in(inputs['udp_port'])
    r['udp_send'] = call(libc.sendto, r['udp']['ret'], b'x', 1, 0, d, 16)
pair = (ctypes.c_int * 2)()
r['socketpair'] = call(libc.socketpair, 1, 1, 0, pair)
result = r
