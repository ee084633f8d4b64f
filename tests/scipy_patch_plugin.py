# Run SciPy's own tests against fastconv.scipy:
#   PYTHONPATH=tests python -m pytest --pyargs scipy.ndimage.tests.test_filters \
#       scipy.signal.tests.test_signaltools -p scipy_patch_plugin -W ignore
# After collection (SciPy's test decorators look functions up by identity), route scipy.ndimage's
# linear filters and scipy.signal's 2-D correlations through fastconv's front ends.
def pytest_collection_finish(session):
    import scipy.ndimage, scipy.signal
    import fastconv.scipy.ndimage as fn
    import fastconv.scipy.signal as fs
    for name in fn.__all__:
        setattr(scipy.ndimage, name, getattr(fn, name))
    for name in fs.__all__:
        setattr(scipy.signal, name, getattr(fs, name))
