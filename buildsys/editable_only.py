"""Build backend: setuptools, for editable installs only.

This project's packages have generic top-level names (``utils``, ``data``,
``models``, ``experiments`` and the module ``main``). A wheel would copy
them into site-packages, where ``pip install --target`` or a shared
environment would overwrite another project's ``utils/__init__.py`` (or be
overwritten by it). An editable install (``pip install -e .``) only adds a
path hook pointing at this checkout, so it copies nothing. Hence the wheel
hooks refuse, with one line naming the reason and the command to use; the
editable and sdist hooks are setuptools' own.
"""

from setuptools.build_meta import (build_editable, build_sdist,  # noqa: F401
                                   get_requires_for_build_editable, get_requires_for_build_sdist,
                                   prepare_metadata_for_build_editable)

MESSAGE = ("freqreg: refusing to build a wheel: its generic top-level packages (utils, data, "
           "models, experiments, main) would overwrite or shadow another project's in "
           "site-packages; install the checkout in editable mode instead: pip install -e .")


def _refuse(*_args, **_kwargs):
    # SystemExit with a string: pip shows the one line, not a traceback.
    raise SystemExit(MESSAGE)


get_requires_for_build_wheel = prepare_metadata_for_build_wheel = build_wheel = _refuse
