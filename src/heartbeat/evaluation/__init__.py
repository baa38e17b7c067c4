"""Evaluation: scoring model folders, the EC57 comparison, the DS1 -> DS2 protocol and its logged looks, shift,
and Table 3's ablations (each row trained through the API, then scored as the protocol scores)."""
