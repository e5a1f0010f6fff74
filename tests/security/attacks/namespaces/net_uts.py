# attack: TCP, UDP and abstract sockets to the host; its host name and interfaces
# layers: namespaces
# mode: warm external
# lib: tryit
# expect: kind = ok
# expect: result.uid = 0
# expect: result.tcp.ok = false and result.tcp.errno = ENETUNREACH
# expect: result.abstract.ok = false and result.abstract.errno = ECONNREFUSED
# expect: result.hostname = pysandbox
# expect: result.ifaces = ["lo"]

# UDP: sendto may fail or vanish; the world proves nothing arrived.
import socket
r = {'uid': os.getuid()}
def tcp():
    s = socket.socket(); s.settimeout(3)
    s.connect(('127.0.0.1', inputs['port']))
r['tcp'] = tryit(tcp)
def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    return s.sendto(b'psb-udp-attack', ('127.0.0.1', inputs['udp_port']))
r['udp'] = tryit(udp)
def abstract():
    s = socket.socket(socket.AF_UNIX); s.settimeout(3)
    s.connect('\0' + inputs['abstract'])
r['abstract'] = tryit(abstract)
r['hostname'] = socket.gethostname()
r['ifaces'] = [n for i, n in socket.if_nameindex()]
result = r
