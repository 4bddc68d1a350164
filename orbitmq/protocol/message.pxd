# Types for the compiled build of message.py (setup.py); message.py stays plain Python.
import cython

cdef unsigned int _MASK32


@cython.locals(data=bytes, utf16=bytes, h=cython.uint, unit=cython.uint, i=cython.Py_ssize_t)
cpdef unsigned int java_hash_unsigned(str text)
