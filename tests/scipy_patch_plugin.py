# Run SciPy's own tests against fastconv.scipy (from a directory outside this project, so that its
# pytest settings do not apply to SciPy's tests):
#   cd /tmp && PYTHONPATH=/path/to/fastconv/tests python -m pytest -p no:cacheprovider \
#       --pyargs scipy.ndimage.tests.test_filters scipy.signal.tests.test_signaltools -p scipy_patch_plugin -W ignore
# After collection, route scipy.ndimage's linear filters and scipy.signal's correlations through
# fastconv's front ends: the module attributes, and the test parameters that hold SciPy's
# functions (parametrised tests captured them at collection, and some compare them by identity
# with the module attributes). SciPy's tests use small arrays, which the front ends would hand
# back to SciPy: the size threshold is set to 0 so that every call they can serve runs on
# fastconv's kernels.


def pytest_collection_finish(session):
    import scipy.ndimage
    import scipy.signal

    import fastconv.scipy.ndimage as fn
    import fastconv.scipy.signal as fs

    fn.SMALL_CALL_ELEMENTS = 0
    ours = {}
    for module, front in ((scipy.ndimage, fn), (scipy.signal, fs)):
        for name in front.__all__:
            ours[id(getattr(module, name))] = getattr(front, name)
            setattr(module, name, getattr(front, name))
    for item in session.items:
        params = getattr(getattr(item, "callspec", None), "params", None)
        if params:
            for key, value in list(params.items()):
                if callable(value) and id(value) in ours:
                    params[key] = ours[id(value)]
