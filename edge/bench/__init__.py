"""``minegate bench``: the gateway's own figures, measured where it runs (models, pipeline, DTN store, camera).

The measuring cores live here, in the installed package, so a gateway without the source tree can run them;
``benchmarks/*.py`` in the repository are command-line wrappers around the same functions.
"""
