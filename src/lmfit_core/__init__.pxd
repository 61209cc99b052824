# Makes `cimport lmfit_core` work; the public Cython API is lmfit_core.cython_lm:
#     from lmfit_core.cython_lm cimport lmdif, lmder, lm_result_t, lm_func_t, lm_jac_t
