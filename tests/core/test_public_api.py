"""The public API a notebook uses: every name in ``mechunlearn.__all__`` resolves, lazily."""

import subprocess
import sys

import mechunlearn


def test_every_public_name_resolves_to_the_object_its_module_defines():
    import importlib

    for name in mechunlearn.__all__:
        if name == "__version__":
            assert mechunlearn.__version__.count(".") >= 2
            continue
        module = importlib.import_module(mechunlearn._API[name])
        assert getattr(mechunlearn, name) is getattr(module, name)


def test_importing_the_package_does_not_import_torch():
    code = "import sys, mechunlearn; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
