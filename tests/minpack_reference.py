"""Operation-for-operation reference of MINPACK's kernels, in plain Python floats.

Each function follows MINPACK's Fortran (``enorm.f``, ``qrfac.f``, ``qrsolv.f``,
``lmpar.f``, and the forming of ``qtf`` in ``lmdif.f``), as translated to C in
SciPy's ``__minpack.h``, statement for statement: every floating-point
operation is one IEEE double operation on Python floats (``math.sqrt`` is
correctly rounded), carried out in MINPACK's order. There is no NumPy
arithmetic and no vectorised or compensated sum, so the results are what
MINPACK computes, bit for bit, and the compiled kernels are tested against
them with ``kernel_helpers.assert_bitwise_equal``.

Conventions (those of the compiled kernels):

* Indices are 0-based: ``ipvt[j]`` is the input column that ends up in
  position ``j``. Without pivoting ``ipvt`` is the identity.
* Matrices are lists of columns (``a[j][i]`` is row ``i`` of column ``j``),
  MINPACK's column-major storage; the ``*_arrays`` wrappers convert to and
  from NumPy Fortran arrays at the boundary only.
* ``qrfac`` leaves the strict upper triangle of R in ``a``, its diagonal in
  ``rdiag`` and the Householder vectors (scaled so that ``u_j[j] = pi_j``) in
  the lower trapezoid.
* The one deliberate difference from SciPy 1.17's C translation is the length
  of the recomputed column norm in ``qrfac``: ``m - j - 1`` entries below row
  ``j`` (MINPACK's Fortran ``enorm(m-j, a(j+1,k))`` with 1-based ``j``), not
  SciPy's ``m - j``, which reads one element past the column.
"""
import math

import numpy as np

# SciPy's constants: rgiant = 2**63.5, rdwarf = 0.5 / rgiant.
RGIANT = 1.3043817825332783e+19
RDWARF = 3.833233541708435e-20
# dpmpar(1) and dpmpar(2): machine epsilon and the smallest positive normal.
EPSMCH = 2.220446049250313e-16
DWARF = 2.2250738585072014e-308

P1 = 0.1
P05 = 0.05
P001 = 0.001
P5 = 0.5
P25 = 0.25


def _fmax(x, y):
    """C's fmax for non-NaN operands (dmax1): the larger, x when neither is."""
    return y if y > x else x


def _fmin(x, y):
    """C's fmin for non-NaN operands (dmin1)."""
    return y if y < x else x


# --------------------------------------------------------------------------
# enorm
# --------------------------------------------------------------------------
def enorm(x, start=0, count=None):
    """MINPACK's enorm of x[start:start + count] (a list of Python floats)."""
    if count is None:
        count = len(x) - start
    n = count
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    x1max = 0.0
    x3max = 0.0
    if n <= 0:
        return 0.0
    floatn = float(n)
    agiant = RGIANT / floatn
    for i in range(start, start + n):
        xabs = abs(x[i])
        if xabs > RDWARF and xabs < agiant:
            # sum for intermediate components
            s2 = s2 + xabs * xabs
        elif xabs <= RDWARF:
            # sum for small components
            if xabs <= x3max:
                if xabs != 0.0:
                    q = xabs / x3max
                    s3 = s3 + q * q
            else:
                q = x3max / xabs
                s3 = 1.0 + s3 * (q * q)
                x3max = xabs
        else:
            # sum for large components
            if xabs <= x1max:
                q = xabs / x1max
                s1 = s1 + q * q
            else:
                q = x1max / xabs
                s1 = 1.0 + s1 * (q * q)
                x1max = xabs
    # calculation of norm
    if s1 != 0.0:
        return x1max * math.sqrt(s1 + (s2 / x1max) / x1max)
    if s2 != 0.0:
        if s2 >= x3max:
            return math.sqrt(s2 * (1.0 + (x3max / s2) * (x3max * s3)))
        return math.sqrt(x3max * ((s2 / x3max) + (x3max * s3)))
    return x3max * math.sqrt(s3)


# --------------------------------------------------------------------------
# qrfac (and lmdif's forming of Q^T b)
# --------------------------------------------------------------------------
def qrfac(m, n, a, pivot, stats=None):
    """MINPACK's qrfac on the columns `a` (n lists of m floats), in place.

    Returns ``(ipvt, rdiag, acnorm)``. If `stats` is a dict, its entry
    ``"recompute"`` counts the downdated column norms recomputed from scratch
    (for tests that must reach that branch).
    """
    rdiag = [0.0] * n
    acnorm = [0.0] * n
    wa = [0.0] * n
    ipvt = list(range(n))

    # compute the initial column norms and initialize several arrays
    for j in range(n):
        acnorm[j] = enorm(a[j], 0, m)
        rdiag[j] = acnorm[j]
        wa[j] = rdiag[j]
        if pivot:
            ipvt[j] = j

    # reduce a to r with Householder transformations
    minmn = min(m, n)
    for j in range(minmn):
        if pivot:
            # bring the column of largest norm into the pivot position
            kmax = j
            for k in range(j, n):
                if rdiag[k] > rdiag[kmax]:
                    kmax = k
            if kmax != j:
                aj = a[j]
                ak = a[kmax]
                for i in range(m):
                    temp = aj[i]
                    aj[i] = ak[i]
                    ak[i] = temp
                rdiag[kmax] = rdiag[j]
                wa[kmax] = wa[j]
                k = ipvt[j]
                ipvt[j] = ipvt[kmax]
                ipvt[kmax] = k

        # compute the Householder transformation to reduce the j-th column
        # of a to a multiple of the j-th unit vector
        aj = a[j]
        ajnorm = enorm(aj, j, m - j)
        if ajnorm != 0.0:
            if aj[j] < 0.0:
                ajnorm = -ajnorm
            for i in range(j, m):
                aj[i] = aj[i] / ajnorm
            aj[j] = aj[j] + 1.0

            # apply the transformation to the remaining columns and update
            # the norms
            for k in range(j + 1, n):
                ak = a[k]
                s = 0.0
                for i in range(j, m):
                    s = s + aj[i] * ak[i]
                temp = s / aj[j]
                for i in range(j, m):
                    ak[i] = ak[i] - temp * aj[i]
                if pivot and rdiag[k] != 0.0:
                    temp = ak[j] / rdiag[k]
                    rdiag[k] = rdiag[k] * math.sqrt(_fmax(0.0, 1.0 - temp * temp))
                    q = rdiag[k] / wa[k]
                    if not (P05 * (q * q) > EPSMCH):
                        # MINPACK's count: the m - j - 1 entries below row j
                        rdiag[k] = enorm(ak, j + 1, m - j - 1)
                        wa[k] = rdiag[k]
                        if stats is not None:
                            stats["recompute"] = stats.get("recompute", 0) + 1
        rdiag[j] = -ajnorm
    return ipvt, rdiag, acnorm


def apply_qt(m, n, a, b):
    """Overwrite `b` with Q^T b from qrfac's output `a`, as lmdif forms qtf.

    lmdif.f, after ``call qrfac``::

        do 120 j = 1, n
           if (fjac(j,j) .eq. zero) go to 110
           sum = zero
           do 100 i = j, m
              sum = sum + fjac(i,j)*wa4(i)
           temp = -sum/fjac(j,j)
           do 105 i = j, m
              wa4(i) = wa4(i) + fjac(i,j)*temp

    (for j below min(m, n): lmdif has m >= n, and a wide matrix has no
    reflection past row m - 1).
    """
    for j in range(min(m, n)):
        aj = a[j]
        if aj[j] == 0.0:
            continue
        s = 0.0
        for i in range(j, m):
            s = s + aj[i] * b[i]
        temp = -s / aj[j]
        for i in range(j, m):
            b[i] = b[i] + aj[i] * temp
    return b


# --------------------------------------------------------------------------
# qrsolv
# --------------------------------------------------------------------------
def qrsolv(n, r, ipvt, diag, qtb):
    """MINPACK's qrsolv on the columns `r` (n lists of n floats), in place.

    Returns ``(x, sdiag)``.
    """
    x = [0.0] * n
    sdiag = [0.0] * n
    wa = [0.0] * n

    # copy r and (q transpose)*b to preserve input and initialize s;
    # in particular, save the diagonal elements of r in x
    for j in range(n):
        for i in range(j, n):
            r[j][i] = r[i][j]
        x[j] = r[j][j]
        wa[j] = qtb[j]

    # eliminate the diagonal matrix d using a Givens rotation
    for j in range(n):
        # prepare the row of d to be eliminated, locating the diagonal
        # element using p from the qr factorization
        l = ipvt[j]
        if diag[l] != 0.0:
            for k in range(j, n):
                sdiag[k] = 0.0
            sdiag[j] = diag[l]
            # the transformations to eliminate the row of d modify only a
            # single element of (q transpose)*b beyond the first n, which
            # is initially zero
            qtbpj = 0.0
            for k in range(j, n):
                # determine a Givens rotation which eliminates the
                # appropriate element in the current row of d
                if sdiag[k] == 0.0:
                    continue
                rk = r[k]
                if abs(rk[k]) >= abs(sdiag[k]):
                    tan = sdiag[k] / rk[k]
                    cos = P5 / math.sqrt(P25 + P25 * (tan * tan))
                    sin = cos * tan
                else:
                    cotan = rk[k] / sdiag[k]
                    sin = P5 / math.sqrt(P25 + P25 * (cotan * cotan))
                    cos = sin * cotan
                # compute the modified diagonal element of r and the
                # modified element of ((q transpose)*b,0)
                rk[k] = cos * rk[k] + sin * sdiag[k]
                temp = cos * wa[k] + sin * qtbpj
                qtbpj = -sin * wa[k] + cos * qtbpj
                wa[k] = temp
                # accumulate the transformation in the row of s
                for i in range(k + 1, n):
                    temp = cos * rk[i] + sin * sdiag[i]
                    sdiag[i] = -sin * rk[i] + cos * sdiag[i]
                    rk[i] = temp
        # store the diagonal element of s and restore the corresponding
        # diagonal element of r
        sdiag[j] = r[j][j]
        r[j][j] = x[j]

    # solve the triangular system for z; if the system is singular, then
    # obtain a least squares solution
    nsing = n
    for j in range(n):
        if sdiag[j] == 0.0 and nsing == n:
            nsing = j
        if nsing < n:
            wa[j] = 0.0
    for k in range(nsing):
        j = nsing - 1 - k
        s = 0.0
        for i in range(j + 1, nsing):
            s = s + r[j][i] * wa[i]
        wa[j] = (wa[j] - s) / sdiag[j]

    # permute the components of z back to components of x
    for j in range(n):
        x[ipvt[j]] = wa[j]
    return x, sdiag


# --------------------------------------------------------------------------
# lmpar
# --------------------------------------------------------------------------
def lmpar(n, r, ipvt, diag, qtb, delta, par, stats=None):
    """MINPACK's lmpar on the columns `r` (n lists of n floats), in place.

    Returns ``(par, x, sdiag)``; ``sdiag`` is all zeros when the
    Gauss-Newton step is accepted at once (qrsolv never runs). If `stats` is
    a dict, ``stats["iterations"]`` is set to the number of iterations (0
    when the Gauss-Newton step is accepted, 10 at MINPACK's cap).
    """
    x = [0.0] * n
    sdiag = [0.0] * n
    wa1 = [0.0] * n
    wa2 = [0.0] * n

    # compute and store in x the Gauss-Newton direction; if the Jacobian is
    # rank-deficient, obtain a least squares solution
    nsing = n
    for j in range(n):
        wa1[j] = qtb[j]
        if r[j][j] == 0.0 and nsing == n:
            nsing = j
        if nsing < n:
            wa1[j] = 0.0
    for k in range(nsing):
        j = nsing - 1 - k
        wa1[j] = wa1[j] / r[j][j]
        temp = wa1[j]
        for i in range(j):
            wa1[i] = wa1[i] - r[j][i] * temp
    for j in range(n):
        x[ipvt[j]] = wa1[j]

    # evaluate the function at the origin, and test for acceptance of the
    # Gauss-Newton direction
    it = 0
    for j in range(n):
        wa2[j] = diag[j] * x[j]
    dxnorm = enorm(wa2)
    fp = dxnorm - delta
    if fp <= P1 * delta:
        if stats is not None:
            stats["iterations"] = it
        return 0.0, x, sdiag

    # if the Jacobian is not rank deficient, the Newton step provides a
    # lower bound, parl, for the zero of the function; otherwise 0
    parl = 0.0
    if nsing >= n:
        for j in range(n):
            l = ipvt[j]
            wa1[j] = diag[l] * (wa2[l] / dxnorm)
        for j in range(n):
            s = 0.0
            for i in range(j):
                s = s + r[j][i] * wa1[i]
            wa1[j] = (wa1[j] - s) / r[j][j]
        temp = enorm(wa1)
        parl = ((fp / delta) / temp) / temp

    # calculate an upper bound, paru, for the zero of the function
    for j in range(n):
        s = 0.0
        for i in range(j + 1):
            s = s + r[j][i] * qtb[i]
        l = ipvt[j]
        wa1[j] = s / diag[l]
    gnorm = enorm(wa1)
    paru = gnorm / delta
    if paru == 0.0:
        paru = DWARF / _fmin(delta, P1)

    # if the input par lies outside of the interval (parl, paru), set par
    # to the closer endpoint
    par = _fmax(par, parl)
    par = _fmin(par, paru)
    if par == 0.0:
        par = gnorm / dxnorm

    while True:
        it = it + 1
        # evaluate the function at the current value of par
        if par == 0.0:
            par = _fmax(DWARF, P001 * paru)
        temp = math.sqrt(par)
        for j in range(n):
            wa1[j] = temp * diag[j]
        x, sdiag = qrsolv(n, r, ipvt, wa1, qtb)
        for j in range(n):
            wa2[j] = diag[j] * x[j]
        dxnorm = enorm(wa2)
        temp = fp
        fp = dxnorm - delta

        # if the function is small enough, accept the current value of par;
        # also test for the exceptional cases where parl is zero or the
        # number of iterations has reached 10
        if (abs(fp) <= P1 * delta
                or (parl == 0.0 and fp <= temp and temp < 0.0)
                or it == 10):
            if stats is not None:
                stats["iterations"] = it
            return par, x, sdiag

        # compute the Newton correction
        for j in range(n):
            l = ipvt[j]
            wa1[j] = diag[l] * (wa2[l] / dxnorm)
        for j in range(n):
            wa1[j] = wa1[j] / sdiag[j]
            temp = wa1[j]
            for i in range(j + 1, n):
                wa1[i] = wa1[i] - r[j][i] * temp
        temp = enorm(wa1)
        parc = ((fp / delta) / temp) / temp

        # depending on the sign of the function, update parl or paru
        if fp > 0.0:
            parl = _fmax(parl, par)
        if fp < 0.0:
            paru = _fmin(paru, par)

        # compute an improved estimate for par
        par = _fmax(parl, par + parc)


# --------------------------------------------------------------------------
# NumPy boundary: the kernels' calling conventions
# --------------------------------------------------------------------------
def _columns(a):
    """A 2-D array as a list of its columns, each a list of Python floats."""
    a = np.asarray(a, dtype=np.float64)
    return [[float(v) for v in a[:, j]] for j in range(a.shape[1])]


def _from_columns(cols, m):
    out = np.empty((m, len(cols)), dtype=np.float64, order="F")
    for j, col in enumerate(cols):
        for i in range(m):
            out[i, j] = col[i]
    return out


def _vector(v):
    return [float(t) for t in np.asarray(v, dtype=np.float64)]


def enorm_array(x):
    """enorm of a 1-D array, as a Python float."""
    return enorm(_vector(x))


def qrfac_arrays(a, pivot=True, b=None, stats=None):
    """The reference of ``_qrfac_memview(a, pivot, b=b)``, on copies.

    Returns ``(a_out, ipvt, rdiag, acnorm, qtb)`` as NumPy arrays (``a_out``
    in Fortran order, ``ipvt`` int32, ``qtb`` None when `b` is None);
    `stats` as for `qrfac`.
    """
    a = np.asarray(a, dtype=np.float64)
    m, n = a.shape
    cols = _columns(a)
    ipvt, rdiag, acnorm = qrfac(m, n, cols, pivot, stats)
    qtb = None
    if b is not None:
        qtb = np.array(apply_qt(m, n, cols, _vector(b)), dtype=np.float64)
    return (_from_columns(cols, m), np.array(ipvt, dtype=np.int32),
            np.array(rdiag, dtype=np.float64), np.array(acnorm, dtype=np.float64),
            qtb)


def qrsolv_arrays(r, ipvt, diag, qtb):
    """The reference of ``_qrsolv_memview``: ``(r_out, x, sdiag)``."""
    r = np.asarray(r, dtype=np.float64)
    n = r.shape[0]
    cols = _columns(r)
    x, sdiag = qrsolv(n, cols, [int(p) for p in ipvt], _vector(diag), _vector(qtb))
    return _from_columns(cols, n), np.array(x), np.array(sdiag)


def lmpar_arrays(r, ipvt, diag, qtb, delta, par=0.0, stats=None):
    """The reference of ``_lmpar_memview``: ``(par, r_out, x, sdiag)``."""
    r = np.asarray(r, dtype=np.float64)
    n = r.shape[0]
    cols = _columns(r)
    p, x, sdiag = lmpar(n, cols, [int(q) for q in ipvt], _vector(diag),
                        _vector(qtb), float(delta), float(par), stats)
    return p, _from_columns(cols, n), np.array(x), np.array(sdiag)
