# Type names shared by the kernels, so that they need no NumPy headers.
ctypedef double float64_t
ctypedef Py_ssize_t intp_t
