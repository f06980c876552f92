"""PEP 517 build backend: setuptools.build_meta, made to work offline.

pip builds in an isolated environment and installs ``requires`` into it,
so the usual ``requires = ["setuptools", "wheel"]`` downloads them even on
a system that has them (Debian's python3-setuptools and python3-wheel).
Here ``requires`` is empty. When setuptools (>= 61, which reads
``[project]``) and wheel cannot be imported inside the isolated
environment, this module looks for them in the site-packages of the base
Python installation (after the isolated paths, so these never shadow
anything pip installed) and, failing that, asks pip to install them. So
``pip install ./tools/python`` needs no network where the distribution
ships the build tools, and behaves as usual everywhere else.
"""

import importlib
import importlib.util
import site
import sys

MIN_SETUPTOOLS = 61


def _setuptools_ok():
    if importlib.util.find_spec("setuptools") is None:
        return False
    from importlib import metadata
    try:
        return int(metadata.version("setuptools").split(".")[0]) >= MIN_SETUPTOOLS
    except (metadata.PackageNotFoundError, ValueError):
        return False


def _have_tools():
    return _setuptools_ok() and importlib.util.find_spec("wheel") is not None


def _use_base_site():
    if _have_tools() or not hasattr(site, "getsitepackages"):
        return
    added = [p for p in site.getsitepackages([sys.base_prefix]) if p not in sys.path]
    sys.path.extend(added)
    importlib.invalidate_caches()
    if not _have_tools():
        for p in added:
            sys.path.remove(p)
        importlib.invalidate_caches()


_use_base_site()


def _missing():
    need = []
    if not _setuptools_ok():
        need.append(f"setuptools>={MIN_SETUPTOOLS}")
    if importlib.util.find_spec("wheel") is None:
        need.append("wheel")
    return need


def _backend():
    from setuptools import build_meta
    return build_meta


def get_requires_for_build_wheel(config_settings=None):
    return _missing()


def get_requires_for_build_sdist(config_settings=None):
    return _missing()


def get_requires_for_build_editable(config_settings=None):
    return _missing()


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    return _backend().prepare_metadata_for_build_wheel(metadata_directory, config_settings)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    return _backend().build_wheel(wheel_directory, config_settings, metadata_directory)


def build_sdist(sdist_directory, config_settings=None):
    return _backend().build_sdist(sdist_directory, config_settings)


def prepare_metadata_for_build_editable(metadata_directory, config_settings=None):
    return _backend().prepare_metadata_for_build_editable(metadata_directory, config_settings)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    return _backend().build_editable(wheel_directory, config_settings, metadata_directory)
