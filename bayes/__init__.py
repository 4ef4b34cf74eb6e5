"""Bayesian polynomial regression with PyMC: priors vs L1/L2, posteriors, evidence.

Modules: ``data`` (the course's polynomial, noisy samples), ``design`` (Legendre / monomial
design matrices and conversion back to monomials), ``penalized`` (Ridge/Lasso and the exact
lambda <-> prior-scale mapping), ``models`` (PyMC models, one per prior), ``fit`` (MAP, NUTS),
``evidence`` (closed-form and SMC evidence, sigma by type-II ML, LOO, az.compare), ``userdata``
(the user's CSV), ``analysis`` (one function per analysis), ``report`` (fit's files), ``plots``,
``bench``, ``blas`` (PyTensor on SciPy's OpenBLAS), ``__main__`` (CLI).
Heavy imports (PyMC) happen inside the modules that need them, so ``import bayes`` is cheap.
"""
