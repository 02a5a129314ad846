"""The one thing pyproject.toml cannot say: the sampler's optional C hot loop.

`optional=True`: where it cannot be compiled (no C compiler, no Python
headers) the install goes on without it and `workloads.sampler` uses its
Python loop, which gives the same samples (tests/workloads/test_sampler.py
runs both).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "workloads._hotloop",
            ["workloads/_hotloop.c"],
            optional=True,
            extra_compile_args=["-O2"],
        )
    ]
)
