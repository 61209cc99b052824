/* Whether a NumPy array is referenced by one holder alone and owns its data:
 * a plain ndarray (not a subclass) with one reference, no base, no weak
 * references. Then nobody else can see or change its contents: the Python
 * driver may refill the point array a callback did not keep, and a batch on
 * two threads may read a model's answers while the model is called again.
 * A view, a memoryview, a weak reference or another reference to the array
 * makes it shared. Never under free threading, whose reference counts are
 * not exact. Include after NumPy's headers. */
#ifndef LMFIT_CORE_UNSHARED_H
#define LMFIT_CORE_UNSHARED_H

static int lmfit_array_is_unshared(PyObject *obj)
{
#ifdef Py_GIL_DISABLED
    (void)obj;
    return 0;
#else
    PyArrayObject *a = (PyArrayObject *)obj;
    return Py_REFCNT(obj) == 1 && Py_TYPE(obj) == &PyArray_Type
        && PyArray_BASE(a) == NULL && (PyArray_FLAGS(a) & NPY_ARRAY_OWNDATA)
        && ((PyArrayObject_fields *)a)->weakreflist == NULL;
#endif
}

#endif
