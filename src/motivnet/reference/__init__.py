"""Independent re-implementations of other people's models, for parity tests and speed baselines."""
