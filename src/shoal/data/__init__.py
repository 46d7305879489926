"""Frames in (pandas, polars, Arrow), content fingerprints, schemas and baseline profiles.

Everything here takes any frame :func:`to_arrow` accepts and works on Arrow underneath:

- :func:`fingerprint`: SHA-256 of every cell, name and type (lineage: what trained what).
- :func:`slice_fingerprints`: one fingerprint per key group, in one pass (per-key models);
  :func:`key_slices` yields each group's rows with it, :func:`key_groups` gives the sorted
  table and each group's row range (per-key training, shipped in batches).
- :func:`schema_of`: names, Arrow types, nullability.
- :func:`profile`: the drift baseline; :func:`profile_slices` one per row range, together
  (a fleet's per-key baselines); :func:`bin_counts` bins new data on its edges;
  :func:`value_summaries` summarises arrays as columns (in-sample predictions, stored
  under the baseline's :data:`PREDICTION` key).
"""

from shoal.data._fingerprint import (
    KeyGroups,
    fingerprint,
    key_groups,
    key_slices,
    slice_fingerprints,
)
from shoal.data._frames import schema_of, to_arrow
from shoal.data._profile import PREDICTION, bin_counts, profile
from shoal.data._profile_slices import profile_slices, value_summaries

__all__ = [
    "PREDICTION",
    "KeyGroups",
    "bin_counts",
    "fingerprint",
    "key_groups",
    "key_slices",
    "profile",
    "profile_slices",
    "schema_of",
    "slice_fingerprints",
    "to_arrow",
    "value_summaries",
]
