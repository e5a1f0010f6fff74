# Prepended to an attack (lib: tryit): tryit(f) records how an action failed.
import os, errno as _errno
def _en(n):
    return _errno.errorcode.get(n, str(n)) if n else None
def tryit(f):
    try:
        v = f()
        return {'ok': True, 'value': repr(v)[:200]}
    except BaseException as e:
        return {'ok': False, 'type': type(e).__name__,
                'errno': _en(getattr(e, 'errno', None)), 'msg': str(e)[:300]}
