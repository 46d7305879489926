"""The SDK: the nouns users import (re-exported from ``shoal``)."""
