"""Model formats ("flavors"), registered by name and imported when first used.

Built-ins, in the order :func:`infer_flavor` tries them:

========  ===================================================  ===========
name      models                                               format
========  ===================================================  ===========
linear    :class:`shoal.flavors.linear.LinearModel`, dicts     JSON
lightgbm  ``lightgbm.Booster`` and the ``LGBM*`` wrappers       native text
sklearn   scikit-learn estimators and pipelines                skops
pickle    anything (never inferred; fleets opt in)             pickle
========  ===================================================  ===========

A third-party format subclasses :class:`Flavor`, registers itself with
``register_flavor("onnx", "mypkg.flavor:OnnxFlavor")`` and checks itself with
:func:`shoal.testing.check_flavor`.
"""

from __future__ import annotations

from shoal.flavors._base import Capabilities, Flavor
from shoal.flavors._registry import flavor_names, get_flavor, infer_flavor, register_flavor
from shoal.flavors._signature import Signature

__all__ = [
    "Capabilities",
    "Flavor",
    "Signature",
    "flavor_names",
    "get_flavor",
    "infer_flavor",
    "register_flavor",
]
