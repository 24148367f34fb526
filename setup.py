"""The native fast path of the trace decoder (collector/fastspans.c). Everything else is in
pyproject.toml. The extension is optional: where it cannot be compiled (no C compiler), Spyglass
decodes every export with the Python decoder, which is slower but gives the same rows."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "collector._fastspans",
            ["collector/fastspans.c"],
            extra_compile_args=["-O2", "-std=c11", "-D_DEFAULT_SOURCE"],
            optional=True,
        )
    ]
)
